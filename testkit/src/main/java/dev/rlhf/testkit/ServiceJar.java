package dev.rlhf.testkit;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A packaged Quarkus service (fast-jar) in a JVM of its own, for benchmarks, end-to-end tests and the demo. */
public final class ServiceJar {

    private ServiceJar() {
    }

    /** A TCP port that was free a moment ago. */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * Starts {@code jar} on {@code port} with extra JVM arguments (and those of
     * {@code RLHF_BENCH_SERVICE_OPTS}, e.g. a profiler), its output appended to {@code log},
     * and waits up to 180 s for {@code /q/health/ready}.
     *
     * @throws IllegalStateException naming the log when the service exits or is not ready in time
     */
    public static Process start(Path jar, Path log, int port, List<String> jvmArgs) throws Exception {
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " is missing; build with ./mvnw -DskipTests package");
        }
        Files.createDirectories(log.getParent());
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        String extra = System.getenv("RLHF_BENCH_SERVICE_OPTS");
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-Dquarkus.http.port=" + port, "-jar", jar.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        awaitReady(p, jar.getFileName() + " on port " + port, port, log);
        return p;
    }

    private static void awaitReady(Process p, String what, int port, Path log) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build();
        long deadline = System.currentTimeMillis() + 180_000;
        while (System.currentTimeMillis() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException(what + " exited; see " + log);
            }
            try {
                if (http.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        p.destroyForcibly();
        throw new IllegalStateException(what + " was not ready in 180 s; see " + log);
    }
}
