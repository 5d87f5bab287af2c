package dev.rlhf.demo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import dev.rlhf.testkit.ServiceJar;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

/**
 * The services of one run, each a packaged Quarkus app in a JVM of its own on a free port,
 * sharing a broker, a model store and a working folder ({@code <work>/logs/<service>.log},
 * {@code <work>/checkpoints}, {@code <work>/prompt-sets}). Closing stops them (SIGTERM, then
 * SIGKILL after 20 s) in reverse start order. {@link #attach} uses {@code bin/rlhf up}'s instead.
 */
public final class Stack implements AutoCloseable {

    private final Path root;
    private final Path work;
    private final Path store;
    private final String bootstrap;
    private final Map<String, Process> processes = new LinkedHashMap<>();
    private final Map<String, Integer> ports = new LinkedHashMap<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final boolean attached;

    /**
     * @param root the project's root (where {@code <service>/target/quarkus-app} are)
     * @param work the run's folder
     */
    public Stack(Path root, Path work, Path store, String bootstrap) throws Exception {
        this(root, work, store, bootstrap, false);
    }

    private Stack(Path root, Path work, Path store, String bootstrap, boolean attached) throws Exception {
        this.attached = attached;
        this.root = root;
        this.work = work;
        this.store = store;
        this.bootstrap = bootstrap;
        Files.createDirectories(work.resolve("logs"));
        Files.createDirectories(work.resolve("prompt-sets"));
    }

    public Path work() {
        return work;
    }

    /**
     * The services {@code bin/rlhf up} runs (state in {@code <root>/.rlhf}, ports from the same
     * environment variables): {@link #start} only looks them up, {@link #close} leaves them running.
     */
    public static Stack attach(Path root, String bootstrap) throws Exception {
        Path state = root.resolve(".rlhf");
        Stack s = new Stack(root, state, state.resolve("models"), bootstrap, true);
        String[][] defaults = {{"feedback-gateway", "8080"}, {"policy-service", "8081"}, {"reward-service", "8082"},
            {"rollout-service", "8083"}, {"trainer-service", "8084"}};
        for (String[] d : defaults) {
            String env = System.getenv(d[0].toUpperCase().replace('-', '_') + "_HTTP_PORT");
            s.ports.put(d[0], Integer.parseInt(env == null ? d[1] : env));
        }
        return s;
    }

    /** Where rollout-service finds its named prompt sets. */
    public Path promptSets() {
        return work.resolve("prompt-sets");
    }

    /**
     * Starts {@code service} with the stack's broker, store and folders, and the extra
     * {@code -D} settings; returns once it is ready.
     */
    public int start(String service, String maxHeap, List<String> settings) throws Exception {
        if (attached) {
            return ports.get(service);
        }
        int port = ServiceJar.freePort();
        List<String> args = new ArrayList<>(List.of("-Xmx" + maxHeap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dkafka.bootstrap.servers=" + bootstrap, "-Drlhf.policy.model-store=" + store,
                "-Drlhf.reward.model-store=" + store, "-Drlhf.trainer.model-store=" + store,
                "-Drlhf.trainer.checkpoints=" + work.resolve("checkpoints"),
                "-Drlhf.rollout.prompt-sets=" + promptSets()));
        if (ports.containsKey("policy-service")) {
            args.add("-Dquarkus.grpc.clients.policy.port=" + ports.get("policy-service"));
        }
        if (ports.containsKey("reward-service")) {
            args.add("-Dquarkus.grpc.clients.reward.port=" + ports.get("reward-service"));
        }
        args.addAll(settings);
        Process p = ServiceJar.start(root.resolve(service).resolve("target/quarkus-app/quarkus-run.jar"),
                work.resolve("logs").resolve(service + ".log"), port, args);
        processes.put(service, p);
        ports.put(service, port);
        return port;
    }

    /** A plaintext gRPC channel to a started service (closed with the stack). */
    public ManagedChannel channel(String service) {
        Integer port = ports.get(service);
        if (port == null) {
            throw new IllegalStateException(service + " was not started");
        }
        ManagedChannel c = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
        channels.add(c);
        return c;
    }

    public int port(String service) {
        return ports.get(service);
    }

    @Override
    public void close() {
        channels.forEach(ManagedChannel::shutdownNow);
        List<String> order = new ArrayList<>(processes.keySet());
        java.util.Collections.reverse(order);
        for (String s : order) {
            processes.get(s).destroy();
        }
        for (String s : order) {
            Process p = processes.get(s);
            try {
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }
}
