import json


def main(req, res):
    """Greets the `name` sent in the JSON payload."""
    try:
        payload = json.loads(req.payload or "{}")
    except ValueError:
        return res.json({"error": "The payload must be JSON, like {\"name\": \"Ada\"}"}, 400)
    name = payload.get("name") or "World"
    return res.json({"message": f"Hello, {name}!", "runtime": "python"})
