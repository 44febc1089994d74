"""PYR105 nested-loop-join: nested loops vs a dict index."""

from _bench import compare, require_311

require_311()
N = 1_000
ORDERS = [(i, i % 500) for i in range(N)]  # (order id, customer id)
CUSTOMERS = [(c, f"customer{c}") for c in range(N)]  # (id, name)


def nested():
    out = []
    for order_id, customer_id in ORDERS:
        for cid, name in CUSTOMERS:
            if customer_id == cid:
                out.append((order_id, name))
    return out


def indexed():
    by_id = {cid: name for cid, name in CUSTOMERS}
    out = []
    for order_id, customer_id in ORDERS:
        name = by_id.get(customer_id)
        if name is not None:
            out.append((order_id, name))
    return out


compare("PYR105", f"{N:,} x {N:,} join", nested, indexed)
