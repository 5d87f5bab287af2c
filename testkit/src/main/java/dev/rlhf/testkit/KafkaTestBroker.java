package dev.rlhf.testkit;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A real Apache Kafka broker for tests: reuses {@code KAFKA_BOOTSTRAP_SERVERS} when that is
 * set, otherwise forks {@code dev.rlhf.kafka.LocalKafka} (module kafka-broker) as its own
 * JVM on free loopback ports and stops it when the test JVM ends.
 *
 * <p>One broker per test JVM ({@link #shared()}): starting one costs 3–7 s. A test may
 * {@link #stop()} and {@link #start()} it again to check behaviour while the broker is
 * down; it comes back on the same ports with the same data.
 */
public final class KafkaTestBroker {

    private static final Duration READY_TIMEOUT = Duration.ofSeconds(90);
    private static KafkaTestBroker shared;

    private final String external;
    private final Path data;
    private final int port;
    private final int controllerPort;
    private Process process;

    private KafkaTestBroker(String external, Path data, int port, int controllerPort) {
        this.external = external;
        this.data = data;
        this.port = port;
        this.controllerPort = controllerPort;
    }

    /** The broker of this test JVM, started on first use. */
    public static synchronized KafkaTestBroker shared() {
        if (shared == null) {
            String env = System.getenv("KAFKA_BOOTSTRAP_SERVERS");
            if (env != null && !env.isBlank()) {
                shared = new KafkaTestBroker(env.trim(), null, -1, -1);
            } else {
                try {
                    Path data = Files.createTempDirectory("rlhf-test-kafka-");
                    int[] ports = freePorts(2);
                    shared = new KafkaTestBroker(null, data, ports[0], ports[1]);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                shared.start();
                KafkaTestBroker broker = shared;
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    broker.stop();
                    deleteRecursively(broker.data);
                }, "kafka-test-broker-stop"));
            }
        }
        return shared;
    }

    /** {@code host:port} for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return external != null ? external : "127.0.0.1:" + port;
    }

    /** The forked broker's process id, when it was started here and runs. */
    public synchronized java.util.OptionalLong pid() {
        return process != null && process.isAlive() ? java.util.OptionalLong.of(process.pid()) : java.util.OptionalLong.empty();
    }

    /** Whether this broker was started here (and so can be stopped and restarted). */
    public boolean isOwned() {
        return external == null;
    }

    /** Starts the forked broker and waits until it serves the platform's topics. */
    public synchronized void start() {
        if (!isOwned() || (process != null && process.isAlive())) {
            return;
        }
        Path root = projectRoot();
        Path classes = root.resolve("kafka-broker/target/classes");
        Path lib = root.resolve("kafka-broker/target/lib");
        if (!Files.isDirectory(lib) || !Files.isDirectory(classes)) {
            throw new IllegalStateException("the Kafka broker jars are missing under " + lib
                    + "; build them first: ./mvnw -f kafka-broker/pom.xml package");
        }
        Path ready = data.resolve("ready");
        Path log = data.resolve("kafka.log");
        try {
            Files.deleteIfExists(ready);
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            process = new ProcessBuilder(List.of(java, "-Xmx512m", "-XX:+UseSerialGC",
                    "-cp", classes + File.pathSeparator + lib + "/*",
                    "dev.rlhf.kafka.LocalKafka", "--data", data.toString(),
                    "--port", Integer.toString(port), "--controller-port", Integer.toString(controllerPort),
                    "--ready-file", ready.toString()))
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
            Instant deadline = Instant.now().plus(READY_TIMEOUT);
            while (!Files.exists(ready)) {
                if (!process.isAlive()) {
                    throw new IllegalStateException("the test Kafka broker exited with " + process.exitValue()
                            + "; its log: " + log + "\n" + tail(log));
                }
                if (Instant.now().isAfter(deadline)) {
                    stop();
                    throw new IllegalStateException("the test Kafka broker was not ready in " + READY_TIMEOUT
                            + "; its log: " + log + "\n" + tail(log));
                }
                Thread.sleep(100);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the test Kafka broker", e);
        }
    }

    /** Stops the forked broker (SIGTERM, then SIGKILL after 30 s); its data is kept. */
    public synchronized void stop() {
        if (process == null) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        process = null;
    }

    /** The repository root: system property {@code rlhf.root}, else the nearest parent with kafka-broker/. */
    static Path projectRoot() {
        String prop = System.getProperty("rlhf.root");
        if (prop != null && Files.isDirectory(Path.of(prop, "kafka-broker"))) {
            return Path.of(prop);
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("kafka-broker"))) {
                return p;
            }
        }
        throw new IllegalStateException("cannot find the project root (a folder with kafka-broker/) above "
                + Path.of("").toAbsolutePath() + "; set -Drlhf.root");
    }

    private static int[] freePorts(int n) throws IOException {
        int[] ports = new int[n];
        ServerSocket[] sockets = new ServerSocket[n];
        try {
            for (int i = 0; i < n; i++) {
                sockets[i] = new ServerSocket(0);
                ports[i] = sockets[i].getLocalPort();
            }
        } finally {
            for (ServerSocket s : sockets) {
                if (s != null) {
                    s.close();
                }
            }
        }
        return ports;
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    private static void deleteRecursively(Path dir) {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort: it is a temp folder
        }
    }
}
