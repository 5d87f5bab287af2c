package dev.rlhf.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.config.TopicConfig;

/**
 * The platform's topics as the local broker creates them: {@code LocalKafka.TOPICS} of the
 * kafka-broker module, read from its source (that module is not a child of the reactor's parent,
 * so the test does not put it on its classpath).
 */
final class ProjectTopics {

    /** One topic: partitions and settings, e.g. cleanup.policy=compact. */
    record Topic(int partitions, Map<String, String> config) {
    }

    static final String SOURCE = "kafka-broker/src/main/java/dev/rlhf/kafka/LocalKafka.java";

    private static final Pattern SPEC = Pattern.compile(
            "new TopicSpec\\(\\s*\"([^\"]+)\"\\s*,\\s*(\\d+)\\s*,\\s*Map\\.of\\(([^)]*)\\)\\s*\\)");

    private ProjectTopics() {
    }

    /** Topic name → topic, in the order of the source. */
    static Map<String, Topic> read(Path root) {
        String source;
        try {
            source = Files.readString(root.resolve(SOURCE));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + SOURCE, e);
        }
        Map<String, Topic> topics = new TreeMap<>();
        Matcher m = SPEC.matcher(source);
        while (m.find()) {
            topics.put(m.group(1), new Topic(Integer.parseInt(m.group(2)), config(m.group(3))));
        }
        int specs = source.split("new TopicSpec\\(", -1).length - 1;
        assertTrue(specs > 0, SOURCE + " has no 'new TopicSpec(' any more: update ProjectTopics");
        assertEquals(specs, topics.size(), "a TopicSpec of " + SOURCE + " is not in the form ProjectTopics reads: "
                + "new TopicSpec(\"name\", partitions, Map.of(...)) with TopicConfig constants or string literals");
        return topics;
    }

    /** {@code TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT} → {cleanup.policy=compact}. */
    private static Map<String, String> config(String mapOfArgs) {
        Map<String, String> config = new TreeMap<>();
        if (mapOfArgs.isBlank()) {
            return config;
        }
        String[] args = mapOfArgs.split(",");
        assertEquals(0, args.length % 2, "odd Map.of arguments in " + SOURCE + ": " + mapOfArgs);
        for (int i = 0; i < args.length; i += 2) {
            config.put(value(args[i].strip()), value(args[i + 1].strip()));
        }
        return config;
    }

    private static String value(String expression) {
        if (expression.startsWith("\"") && expression.endsWith("\"")) {
            return expression.substring(1, expression.length() - 1);
        }
        String constant = expression.replaceFirst("^TopicConfig\\.", "");
        try {
            return (String) TopicConfig.class.getField(constant).get(null);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(SOURCE + ": cannot read '" + expression + "' (a TopicConfig constant or a"
                    + " string literal is expected)", e);
        }
    }
}
