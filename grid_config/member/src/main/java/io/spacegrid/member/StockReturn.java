package io.spacegrid.member;

/**
 * {@code return(order_id, qty, now_ms)}: a cancelled order gives its sold stock back, exactly
 * once. If {@code returns[order_id]} exists, nothing changes, "returned" with the marker's qty
 * (a retried or duplicated cancel); else available += qty, {@code returns[order_id] = {"at":
 * now_ms, "qty": qty}}, "returned" with qty. No entry: "missing" (nothing is created). The
 * attempt field is not used (returns are scoped to the order).
 */
public final class StockReturn extends StockProcessor.Quantified {

    private static final long serialVersionUID = 1L;

    public StockReturn() {
    }

    public StockReturn(String orderId, long qty, long nowMs, String requestId, String changedAt) {
        super(orderId, "", qty, nowMs, requestId, changedAt);
    }

    @Override
    Step apply(StockState s) {
        long done = s.returnedQty(orderId);
        if (done >= 0) {
            return new Step(answer("returned", s.stock, done), false);
        }
        s.stock = Math.addExact(s.stock, qty);
        s.addReturn(orderId, qty, nowMs);
        return new Step(answer("returned", s.stock, qty), true);
    }

    @Override
    String missing() {
        return answer("missing", NONE, NONE);
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_RETURN;
    }
}
