package io.spacegrid.member;

import com.hazelcast.internal.json.Json;
import com.hazelcast.internal.json.JsonObject;
import com.hazelcast.internal.json.JsonValue;

import java.util.Map;
import java.util.TreeMap;

/**
 * Canonical JSON, byte for byte what the Python side writes ({@code orjson.dumps(v,
 * option=OPT_SORT_KEYS)}): compact, object keys sorted by code point (= orjson's UTF-8 byte
 * order), the last of duplicate keys wins (as in orjson.loads), non-ASCII written raw, and
 * only the escapes orjson uses. Canonical form matters: the grid compares stored values
 * byte-wise ({@code replace_if_same}) and the Python adapters always store sorted keys, so a
 * processor's output must be indistinguishable from a value Python wrote.
 *
 * <p>Parsing uses minimal-json as bundled inside the hazelcast jar
 * ({@code com.hazelcast.internal.json}). That is internal API; acceptable because the module
 * compiles against, and the members run, exactly the pinned hazelcast 5.6.0 jar. Numbers keep
 * the text they were parsed from, so untouched fields are re-emitted unchanged; only the
 * writer below is ours (minimal-json's own writer escapes differently from orjson, e.g.
 * U+2028, and keeps insertion order).
 */
final class CanonicalJson {

    private CanonicalJson() {
    }

    /** Parses a JSON object; anything else is a corrupt entry for our maps. */
    static JsonObject parseObject(String text) {
        JsonValue value = Json.parse(text);
        if (!value.isObject()) {
            throw new IllegalStateException("expected a JSON object, got: " + abbreviate(text));
        }
        return value.asObject();
    }

    /** The canonical text of a JSON value. */
    static String write(JsonValue value) {
        StringBuilder out = new StringBuilder(64);
        append(out, value);
        return out.toString();
    }

    private static void append(StringBuilder out, JsonValue value) {
        if (value.isObject()) {
            Map<String, JsonValue> sorted = new TreeMap<>(CanonicalJson::compareCodePoints);
            for (JsonObject.Member m : value.asObject()) {
                sorted.put(m.getName(), m.getValue()); // a later duplicate replaces an earlier one
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<String, JsonValue> e : sorted.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                appendString(out, e.getKey());
                out.append(':');
                append(out, e.getValue());
            }
            out.append('}');
        } else if (value.isArray()) {
            out.append('[');
            boolean first = true;
            for (JsonValue item : value.asArray()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                append(out, item);
            }
            out.append(']');
        } else if (value.isString()) {
            appendString(out, value.asString());
        } else {
            out.append(value.toString()); // numbers: their parsed text; true, false, null
        }
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** A JSON string with orjson's escapes: \" \\ \b \t \n \f \r, other controls as \\u00xx. */
    static void appendString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\b' -> out.append("\\b");
                case '\t' -> out.append("\\t");
                case '\n' -> out.append("\\n");
                case '\f' -> out.append("\\f");
                case '\r' -> out.append("\\r");
                default -> {
                    if (c < 0x20) {
                        out.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** Code point order, which is UTF-8 byte order (Java's compareTo is UTF-16 unit order). */
    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        if (i < a.length()) {
            return 1;
        }
        return j < b.length() ? -1 : 0;
    }

    private static String abbreviate(String text) {
        return text.length() <= 80 ? text : text.substring(0, 80) + "...";
    }
}
