package dev.rlhf.kafka;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;

/**
 * Runs a real single-node Apache Kafka broker (KRaft: broker and controller in one process)
 * in the foreground, for local runs, tests and CI.
 *
 * <pre>
 * java -cp kafka-broker/target/classes:kafka-broker/target/lib/* dev.rlhf.kafka.LocalKafka \
 *     --data DIR [--host 127.0.0.1] [--port 9092] [--controller-port 9093] [--ready-file FILE]
 * </pre>
 *
 * Steps: 1. write {@code DIR/server.properties}; 2. format the storage the first time (the
 * cluster id is kept in {@code DIR/cluster.id}); 3. start the broker; 4. once it answers,
 * create the platform's topics (idempotent) and write the bootstrap address to the ready
 * file. The caller waits for that file. SIGTERM shuts the broker down cleanly (Kafka's own
 * shutdown hook).
 */
public final class LocalKafka {

    /** The platform's topics, as in ARCHITECTURE.md: name, partitions, extra topic configs. */
    static final List<TopicSpec> TOPICS = List.of(
            new TopicSpec("rlhf.interactions.v1", 6, Map.of()),
            // human feedback and the preferences made of it are training data: kept forever
            new TopicSpec("rlhf.feedback.v1", 6, Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1")),
            new TopicSpec("rlhf.feedback.dlq.v1", 1, Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1")),
            new TopicSpec("rlhf.preferences.v1", 6, Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1")),
            new TopicSpec("rlhf.prompts.v1", 6, Map.of()),
            new TopicSpec("rlhf.prompts.dlq.v1", 1, Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1")),
            new TopicSpec("rlhf.rollouts.v1", 6, Map.of()),
            new TopicSpec("rlhf.models.v1", 1,
                    Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)));

    record TopicSpec(String name, int partitions, Map<String, String> configs) {
    }

    private final Path data;
    private final String host;
    private final int port;
    private final int controllerPort;
    private final Path readyFile;

    LocalKafka(Path data, String host, int port, int controllerPort, Path readyFile) {
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be in 1..65535, got " + port);
        }
        if (controllerPort <= 0 || controllerPort > 65535 || controllerPort == port) {
            throw new IllegalArgumentException(
                    "--controller-port must be in 1..65535 and differ from --port, got " + controllerPort);
        }
        this.data = data.toAbsolutePath();
        this.host = host;
        this.port = port;
        this.controllerPort = controllerPort;
        this.readyFile = readyFile;
    }

    public static void main(String[] args) throws Exception {
        Path data = null;
        Path ready = null;
        String host = "127.0.0.1";
        int port = 9092;
        int controllerPort = -1;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--data" -> data = Path.of(require(args[i], value));
                case "--host" -> host = require(args[i], value);
                case "--port" -> port = Integer.parseInt(require(args[i], value));
                case "--controller-port" -> controllerPort = Integer.parseInt(require(args[i], value));
                case "--ready-file" -> ready = Path.of(require(args[i], value));
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; expected --data, --host, --port, --controller-port, --ready-file");
            }
            i++;
        }
        if (data == null) {
            throw new IllegalArgumentException("--data DIR is required");
        }
        new LocalKafka(data, host, port, controllerPort < 0 ? port + 1 : controllerPort, ready).run();
    }

    private static String require(String option, String value) {
        if (value == null) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return value;
    }

    void run() throws IOException, InterruptedException {
        Files.createDirectories(data);
        if (readyFile != null) {
            Files.deleteIfExists(readyFile);
        }
        // 1. configuration
        Path props = data.resolve("server.properties");
        writeServerProperties(props);
        // 2. format once
        if (!Files.exists(data.resolve("logs").resolve("meta.properties"))) {
            format(props);
        }
        // 4. (in the background) topics and ready file, once the broker answers
        Thread provisioner = new Thread(this::provision, "rlhf-topic-provisioner");
        provisioner.setDaemon(true);
        provisioner.start();
        // 3. the broker itself; returns only on shutdown
        kafka.Kafka.main(new String[] {props.toString()});
    }

    private void writeServerProperties(Path file) throws IOException {
        Properties p = new Properties();
        p.setProperty("process.roles", "broker,controller");
        p.setProperty("node.id", "1");
        p.setProperty("controller.quorum.bootstrap.servers", host + ":" + controllerPort);
        p.setProperty("listeners", "PLAINTEXT://" + host + ":" + port + ",CONTROLLER://" + host + ":" + controllerPort);
        p.setProperty("advertised.listeners", "PLAINTEXT://" + host + ":" + port);
        p.setProperty("controller.listener.names", "CONTROLLER");
        p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.setProperty("inter.broker.listener.name", "PLAINTEXT");
        p.setProperty("log.dirs", data.resolve("logs").toString());
        p.setProperty("num.partitions", "1");
        p.setProperty("offsets.topic.replication.factor", "1");
        p.setProperty("offsets.topic.num.partitions", "10");
        p.setProperty("transaction.state.log.replication.factor", "1");
        p.setProperty("transaction.state.log.min.isr", "1");
        p.setProperty("share.coordinator.state.topic.replication.factor", "1");
        p.setProperty("share.coordinator.state.topic.min.isr", "1");
        p.setProperty("group.initial.rebalance.delay.ms", "0");
        p.setProperty("auto.create.topics.enable", "false");
        try (var out = Files.newBufferedWriter(file)) {
            p.store(out, "written by dev.rlhf.kafka.LocalKafka on every start");
        }
    }

    private void format(Path props) throws IOException, InterruptedException {
        Path idFile = data.resolve("cluster.id");
        if (!Files.exists(idFile)) {
            Files.writeString(idFile, randomClusterId());
        }
        String clusterId = Files.readString(idFile).trim();
        List<String> cmd = new ArrayList<>(List.of(javaBinary(), "-cp", System.getProperty("java.class.path"),
                "kafka.tools.StorageTool", "format", "--standalone",
                // with '=': a random id that begins with '-' would otherwise be read as a flag
                "--cluster-id=" + clusterId, "--config", props.toString()));
        Process format = new ProcessBuilder(cmd).inheritIO().start();
        int rc = format.waitFor();
        if (rc != 0) {
            throw new IllegalStateException("formatting Kafka storage in " + data + " failed (exit " + rc
                    + "); delete that folder to start from scratch");
        }
    }

    /** A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars). */
    private static String randomClusterId() {
        UUID uuid = UUID.randomUUID();
        var buf = java.nio.ByteBuffer.allocate(16);
        buf.putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits());
        return java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(buf.array());
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private void provision() {
        String bootstrap = host + ":" + port;
        Properties p = new Properties();
        p.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.setProperty(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.setProperty(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
        Instant deadline = Instant.now().plus(Duration.ofMinutes(2));
        try (Admin admin = Admin.create(p)) {
            while (true) {
                try {
                    createTopics(admin);
                    break;
                } catch (ExecutionException | org.apache.kafka.common.errors.TimeoutException e) {
                    if (Instant.now().isAfter(deadline)) {
                        System.err.println("LocalKafka: broker at " + bootstrap + " did not become ready: " + e);
                        return;
                    }
                    Thread.sleep(250);
                }
            }
            if (readyFile != null) {
                Path tmp = readyFile.resolveSibling(readyFile.getFileName() + ".tmp");
                Files.writeString(tmp, bootstrap + System.lineSeparator());
                Files.move(tmp, readyFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            System.out.println("LocalKafka: ready at " + bootstrap + " with topics "
                    + TOPICS.stream().map(TopicSpec::name).collect(Collectors.joining(", ")));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void createTopics(Admin admin) throws ExecutionException, InterruptedException {
        Set<String> existing = admin.listTopics().names().get();
        List<NewTopic> missing = TOPICS.stream()
                .filter(t -> !existing.contains(t.name()))
                .map(t -> new NewTopic(t.name(), t.partitions(), (short) 1).configs(t.configs()))
                .toList();
        if (!missing.isEmpty()) {
            try {
                admin.createTopics(missing).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
                    throw e;
                }
            }
        }
    }
}
