package io.spacegrid.member;

/**
 * {@code take(n, bound)}: a unit takes {@code n} journal credits before a write that appends
 * {@code n} entries to one (map, partition) journal.
 * <ul>
 *   <li>c &gt;= n: c -= n, stored (a missing entry is created), "taken" with the new c;</li>
 *   <li>else nothing changes (a missing entry stays missing), "refused" with c.</li>
 * </ul>
 */
public final class CreditsTake extends CreditsProcessor {

    private static final long serialVersionUID = 1L;

    public CreditsTake() {
    }

    public CreditsTake(long n, long bound) {
        super(n, bound);
    }

    @Override
    Step apply(long c) {
        if (c < n) {
            return new Step(answer("refused", c, 0), NONE);
        }
        return new Step(answer("taken", c - n, 0), c - n);
    }

    @Override
    public int getClassId() {
        return MemberFactory.CREDITS_TAKE;
    }
}
