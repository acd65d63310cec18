package io.spacegrid.member;

/**
 * {@code release(order_id, attempt)}: give a hold back, exactly once. If the order's hold
 * exists and this attempt took it, available += its qty, the hold is removed, "released" with
 * that qty; else nothing changes, "absent" (also when another attempt took the hold: a
 * duplicate request never gives back stock it did not take; and when the key has no entry).
 */
public final class StockRelease extends StockProcessor {

    private static final long serialVersionUID = 1L;

    public StockRelease() {
    }

    public StockRelease(String orderId, String attempt, String requestId, String changedAt) {
        super(orderId, attempt, requestId, changedAt);
    }

    @Override
    Step apply(StockState s) {
        StockState.Hold existing = s.hold(orderId);
        if (existing == null || !existing.by().equals(attempt)) {
            return new Step(answer("absent", s.stock, NONE), false);
        }
        s.stock = Math.addExact(s.stock, existing.qty());
        s.removeHold(orderId);
        return new Step(answer("released", s.stock, existing.qty()), true);
    }

    @Override
    String missing() {
        return answer("absent", NONE, NONE);
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_RELEASE;
    }
}
