package io.spacegrid.member;

import java.util.Comparator;
import java.util.Map;

/**
 * The order of a page of a query ({@code HazelcastGrid.query}): entries by key in id order, a
 * decimal id's numeric order without parsing it: shorter first, then character by character
 * (grid_config/ports.py {@code id_order}). Given to a paging predicate, it lets the members
 * sort and cut a page, so a page costs the client its {@code limit} entries, not every match.
 * No fields.
 */
public final class IdOrder extends NoFields implements Comparator<Map.Entry<Object, Object>> {

    public IdOrder() {
    }

    @Override
    public int compare(Map.Entry<Object, Object> a, Map.Entry<Object, Object> b) {
        String x = String.valueOf(a.getKey());
        String y = String.valueOf(b.getKey());
        int byLength = Integer.compare(x.length(), y.length());
        return byLength != 0 ? byLength : x.compareTo(y);
    }

    @Override
    public int getClassId() {
        return MemberFactory.ID_ORDER;
    }
}
