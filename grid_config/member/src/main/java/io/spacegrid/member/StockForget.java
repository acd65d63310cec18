package io.spacegrid.member;

/**
 * {@code forget(order_id)}: drop the return marker of an order (the reaper, past the markers'
 * retention). If {@code returns[order_id]} exists it is removed (available unchanged),
 * "forgot" with its qty; else nothing changes, "absent" (also when the key has no entry).
 * The attempt field is not used.
 */
public final class StockForget extends StockProcessor {

    private static final long serialVersionUID = 1L;

    public StockForget() {
    }

    public StockForget(String orderId, String requestId, String changedAt) {
        super(orderId, "", requestId, changedAt);
    }

    @Override
    Step apply(StockState s) {
        long done = s.returnedQty(orderId);
        if (done < 0) {
            return new Step(answer("absent", s.stock, NONE), false);
        }
        s.removeReturn(orderId);
        return new Step(answer("forgot", s.stock, done), true);
    }

    @Override
    String missing() {
        return answer("absent", NONE, NONE);
    }

    @Override
    public int getClassId() {
        return MemberFactory.STOCK_FORGET;
    }
}
