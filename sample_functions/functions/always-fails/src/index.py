import json


def charge(order):
    raise ConnectionError(f"payment provider unreachable while charging order {order!r}")


def main(req, res):
    """Fails on purpose: the execution is stored as failed, with the traceback in its stderr."""
    order = json.loads(req.payload or "{}").get("orderId", "unknown")
    charge(order)
    return res.json({"charged": order})
