def main(req, res):
    """Builds a greeting from the function's variables (set in appwrite.json)."""
    greeting = req.variables.get("GREETING", "Hello")
    audience = req.variables.get("AUDIENCE", "world")
    return res.json(
        {
            "greeting": f"{greeting}, {audience}!",
            "functionId": req.variables.get("APPWRITE_FUNCTION_ID"),
            "configured": sorted(k for k in req.variables if not k.startswith("APPWRITE_")),
        }
    )
