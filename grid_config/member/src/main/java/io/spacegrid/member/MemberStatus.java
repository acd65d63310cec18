package io.spacegrid.member;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.DistributedObject;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.HazelcastInstanceAware;
import com.hazelcast.instance.impl.HazelcastInstanceImpl;
import com.hazelcast.instance.impl.HazelcastInstanceProxy;
import com.hazelcast.instance.impl.Node;
import com.hazelcast.internal.partition.InternalPartition;
import com.hazelcast.internal.partition.InternalPartitionService;
import com.hazelcast.internal.partition.PartitionReplica;
import com.hazelcast.internal.partition.impl.MigrationStats;
import com.hazelcast.map.IMap;
import com.hazelcast.map.LocalMapStats;

import java.util.UUID;
import java.util.concurrent.Callable;

/**
 * One member's own view for {@code spacegrid grid status}, run on every member through an
 * executor: what the Python client cannot ask (it sees partition owners only, and no map
 * statistics). Answers a JSON object: the member's UUID, whether it is the master, the
 * cluster's name, state and version, partitions it owns and backs up, migration progress,
 * and per map its owned and backup entries and their memory cost.
 *
 * <p>Partition replicas and migration counts come from Hazelcast's internal partition
 * service (there is no public API for them); the rest is public API. Read-only.
 */
public final class MemberStatus extends NoFields implements Callable<String>, HazelcastInstanceAware {

    private transient HazelcastInstance hz;

    public MemberStatus() {
    }

    @Override
    public void setHazelcastInstance(HazelcastInstance hazelcastInstance) {
        this.hz = hazelcastInstance;
    }

    @Override
    public String call() {
        Member local = hz.getCluster().getLocalMember();
        UUID self = local.getUuid();
        Node node = node(hz);
        InternalPartitionService partitions = node.getPartitionService();
        // The partition table names a replica for every member up to 7, used or not: a backup
        // partition is one of the replicas the maps' backup counts actually fill.
        int replicas = 1 + usedBackupCount();
        int owned = 0;
        int backups = 0;
        for (InternalPartition p : partitions.getInternalPartitions()) {
            for (int i = 0; i < Math.min(replicas, InternalPartition.MAX_REPLICA_COUNT); i++) {
                PartitionReplica r = p.getReplica(i);
                if (r != null && self.equals(r.uuid())) {
                    if (i == 0) {
                        owned++;
                    } else {
                        backups++;
                    }
                }
            }
        }
        MigrationStats migrations = partitions.getMigrationManager().getStats();
        StringBuilder out = new StringBuilder(512).append('{');
        str(out, "uuid", self.toString()).append(',');
        str(out, "address", local.getAddress().getHost() + ":" + local.getAddress().getPort()).append(',');
        str(out, "version", local.getVersion().toString()).append(',');
        out.append("\"master\":").append(node.isMaster()).append(',');
        str(out, "cluster_name", hz.getConfig().getClusterName()).append(',');
        str(out, "cluster_state", hz.getCluster().getClusterState().name()).append(',');
        str(out, "cluster_version", hz.getCluster().getClusterVersion().toString()).append(',');
        out.append("\"member_safe\":").append(hz.getPartitionService().isLocalMemberSafe()).append(',');
        out.append("\"cluster_safe\":").append(hz.getPartitionService().isClusterSafe()).append(',');
        out.append("\"partition_count\":").append(partitions.getPartitionCount()).append(',');
        out.append("\"owned_partitions\":").append(owned).append(',');
        out.append("\"backup_partitions\":").append(backups).append(',');
        out.append("\"migration_queue\":").append(partitions.getMigrationQueueSize()).append(',');
        out.append("\"migrations_planned\":").append(migrations.getPlannedMigrations()).append(',');
        out.append("\"migrations_completed\":").append(migrations.getCompletedMigrations()).append(',');
        out.append("\"migrations_remaining\":").append(migrations.getRemainingMigrations()).append(',');
        out.append("\"maps\":{");
        boolean first = true;
        for (DistributedObject o : hz.getDistributedObjects()) {
            if (!(o instanceof IMap<?, ?> map)) {
                continue;
            }
            LocalMapStats s = map.getLocalMapStats();
            if (!first) {
                out.append(',');
            }
            first = false;
            quote(out, map.getName()).append(":{");
            out.append("\"owned_entries\":").append(s.getOwnedEntryCount()).append(',');
            out.append("\"backup_entries\":").append(s.getBackupEntryCount()).append(',');
            out.append("\"backup_count\":").append(s.getBackupCount()).append(',');
            out.append("\"owned_memory_bytes\":").append(s.getOwnedEntryMemoryCost()).append(',');
            out.append("\"backup_memory_bytes\":").append(s.getBackupEntryMemoryCost()).append('}');
        }
        return out.append("}}").toString();
    }

    /** The largest backup count (sync + async) of the maps that exist; 1 when there is none. */
    private int usedBackupCount() {
        int most = 0;
        boolean any = false;
        for (DistributedObject o : hz.getDistributedObjects()) {
            if (o instanceof IMap<?, ?> map) {
                any = true;
                most = Math.max(most, hz.getConfig().findMapConfig(map.getName()).getTotalBackupCount());
            }
        }
        return any ? most : 1;
    }

    private static Node node(HazelcastInstance hz) {
        if (hz instanceof HazelcastInstanceProxy proxy) {
            return proxy.getOriginal().node;
        }
        return ((HazelcastInstanceImpl) hz).node;
    }

    private static StringBuilder str(StringBuilder out, String key, String value) {
        return quote(quote(out, key).append(':'), value);
    }

    private static StringBuilder quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"');
    }

    @Override
    public int getClassId() {
        return MemberFactory.MEMBER_STATUS;
    }
}
