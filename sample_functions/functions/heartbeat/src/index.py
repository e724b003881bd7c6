from datetime import datetime, timezone


def main(req, res):
    """Runs every minute (see `schedule` in appwrite.json) and reports how it was started."""
    trigger = req.variables.get("APPWRITE_FUNCTION_TRIGGER", "")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(f"heartbeat at {now} (trigger: {trigger})")
    return res.json({"alive": True, "trigger": trigger, "at": now})
