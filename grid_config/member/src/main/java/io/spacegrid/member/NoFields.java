package io.spacegrid.member;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

/**
 * A {@link MemberFactory} object with nothing on the wire (a task that answers about its
 * member, a comparator): only its class id travels. Subclasses say which.
 */
abstract class NoFields implements IdentifiedDataSerializable {

    @Override
    public final void writeData(ObjectDataOutput out) {
        // no fields
    }

    @Override
    public final void readData(ObjectDataInput in) {
        // no fields
    }

    @Override
    public final int getFactoryId() {
        return MemberFactory.FACTORY_ID;
    }
}
