package dev.rlhf.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * The packaged gateway (fast-jar) as an operator starts it: bad configuration fails start-up
 * naming the key; an unreachable broker is a clear log line and readiness DOWN, not a crash.
 */
class GatewayStartupIT {

    private static final Path JAR = Path.of("target/quarkus-app/quarkus-run.jar");
    private static final String KEYS = "-Drlhf.gateway.auth.keys=ops:" + ApiKeys.sha256Hex("k") + ":feedback.write";

    private static Process start(Path log, String... props) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m"));
        cmd.addAll(List.of(props));
        cmd.addAll(List.of("-jar", JAR.toString()));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static String exitAndLog(Process p, Path log) throws Exception {
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "start-up should fail fast");
        assertNotEquals(0, p.exitValue());
        return Files.readString(log);
    }

    @Test
    void invalidPortFailsStartupNamingTheKey() throws Exception {
        Path log = Files.createTempFile("gateway-port", ".log");
        String out = exitAndLog(start(log, KEYS, "-Dquarkus.http.port=eighty"), log);
        assertTrue(out.contains("quarkus.http.port"), out);
    }

    @Test
    void missingApiKeysFailStartupNamingTheKey() throws Exception {
        Path log = Files.createTempFile("gateway-keys", ".log");
        String out = exitAndLog(start(log, "-Dquarkus.http.port=" + freePort()), log);
        assertTrue(out.contains("rlhf.gateway.auth.keys"), out);
    }

    @Test
    void unreachableBrokerIsLoggedAndNotReady() throws Exception {
        Path log = Files.createTempFile("gateway-nobroker", ".log");
        int port = freePort();
        Process p = start(log, KEYS, "-Dquarkus.http.port=" + port, "-Dkafka.bootstrap.servers=127.0.0.1:" + freePort());
        try {
            HttpClient http = HttpClient.newHttpClient();
            HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build();
            Instant deadline = Instant.now().plusSeconds(60);
            HttpResponse<String> r = null;
            while (Instant.now().isBefore(deadline)) {
                try {
                    r = http.send(ready, HttpResponse.BodyHandlers.ofString());
                    break;
                } catch (IOException notListeningYet) {
                    assertTrue(p.isAlive(), Files.readString(log));
                    Thread.sleep(200);
                }
            }
            assertTrue(r != null, "the gateway never listened: " + Files.readString(log));
            assertEquals(503, r.statusCode(), r.body());
            assertTrue(r.body().contains("\"DOWN\""), r.body());
            HttpResponse<String> live = http.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + port + "/q/health/live")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, live.statusCode(), "alive, so Kubernetes does not restart it in a loop");
            Instant logDeadline = Instant.now().plusSeconds(30);
            while (!Files.readString(log).contains("is unreachable") && Instant.now().isBefore(logDeadline)) {
                Thread.sleep(200);
            }
            assertTrue(Files.readString(log).contains("(kafka.bootstrap.servers) is unreachable"), Files.readString(log));
            assertTrue(p.isAlive());
        } finally {
            p.destroy();
            p.waitFor(20, TimeUnit.SECONDS);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
