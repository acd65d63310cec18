package io.spacegrid.member;

/**
 * {@code hold(order_id, attempt, qty, now_ms)}: take {@code qty} out of the available stock
 * for one order, by one attempt, idempotently.
 * <ul>
 *   <li>a hold for the order exists, taken by this attempt: nothing changes, "held" with the
 *       existing hold's qty (a retry gets the first answer);</li>
 *   <li>a hold for the order exists, taken by another attempt (a duplicate request with the
 *       same derived order id): nothing changes, "busy" with the available count;</li>
 *   <li>available &lt; qty: nothing changes, "short" with the available count;</li>
 *   <li>else available -= qty, {@code holds[order_id] = {"at": now_ms, "by": attempt,
 *       "qty": qty}}, "held";</li>
 *   <li>no entry: "missing" (nothing is created).</li>
 * </ul>
 * A "held" answer also carries the entry's {@code price_cents} (when it has an integer one):
 * the price the line sells at, read in the same step that took the stock.
 */
public final class StockHold extends StockProcessor.Quantified {

    private static final long serialVersionUID = 1L;

    public StockHold() {
    }

    public StockHold(String orderId, String attempt, long qty, long nowMs, String requestId, String changedAt) {
        super(orderId, attempt, qty, nowMs, requestId, changedAt);
    }

    @Override
    Step apply(StockState s) {
        StockState.Hold existing = s.hold(orderId);
        if (existing != null) {
            if (existing.by().equals(attempt)) {
                return new Step(held(s.stock, existing.qty(), s.priceCents()), false);
            }
            return new Step(answer("busy", s.stock, NONE), false);
        }
        if (s.stock < qty) {
            return new Step(answer("short", s.stock, NONE), false);
        }
        s.stock -= qty;
        s.addHold(orderId, attempt, qty, nowMs);
        return new Step(held(s.stock, qty, s.priceCents()), true);
    }

    @Override
    String missing() {
        return answer("missing", NONE, NONE);
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_HOLD;
    }
}
