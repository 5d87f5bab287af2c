package dev.rlhf.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Renders {@code k8s/overlays/cpu} and {@code k8s/overlays/gpu} with {@code kubectl kustomize} and
 * checks them against the services' own configuration: ports, probes, scrape annotations, the
 * environment variables (each one a key the service reads, see {@link ServiceModule}), volumes,
 * the gRPC clients of rollout-service, the Kafka topics and where GPUs go. Skipped when kubectl is
 * not on PATH.
 */
class RenderedManifestsTest {

    static final List<String> SERVICES = List.of("feedback-gateway", "policy-service", "reward-service",
            "rollout-service", "trainer-service");
    /** The services that run models (ONNX Runtime or libtorch): the ones that get a GPU. */
    static final Set<String> GPU_SERVICES = Set.of("policy-service", "reward-service", "trainer-service");
    /** ONNX Runtime execution provider key of each serving service, and its @WithDefault. */
    static final Map<String, String> PROVIDER_KEYS = Map.of(
            "policy-service", "rlhf.policy.provider", "reward-service", "rlhf.reward.provider");
    static final String DEFAULT_PROVIDER = "cpu";
    static final String GPU = "nvidia.com/gpu";
    static final Map<String, String> PROBES = Map.of("livenessProbe", "/q/health/live",
            "readinessProbe", "/q/health/ready", "startupProbe", "/q/health/started");
    static final Pattern GRPC_HOST = Pattern.compile("quarkus\\.grpc\\.clients\\.([\\w-]+)\\.host");

    static final Path ROOT = root();
    static final Map<String, Manifests> RENDERED = new ConcurrentHashMap<>();
    static final Map<String, ServiceModule> MODULES = new ConcurrentHashMap<>();

    // ---------------------------------------------------------------- ports, probes, metrics

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void eachServiceIsOneDeploymentAndOneServiceOnItsHttpPort(String overlay) {
        Manifests m = rendered(overlay);
        assertEquals(new HashSet<>(SERVICES), names(m.ofKind("Deployment")), overlay + ": Deployments");
        for (String s : SERVICES) {
            int port = module(s).httpPort();
            JsonNode ports = m.container(s).path("ports");
            assertEquals(1, ports.size(), overlay + ": " + s + " exposes one port (gRPC is served on the HTTP port)");
            assertEquals(port, ports.get(0).path("containerPort").asInt(), overlay + ": " + s + " containerPort");

            JsonNode service = m.get("Service", s).path("spec");
            assertEquals(1, service.path("ports").size(), overlay + ": Service " + s + " ports");
            JsonNode sp = service.path("ports").get(0);
            assertEquals(port, sp.path("port").asInt(), overlay + ": Service " + s + " port");
            assertEquals(port, m.containerPort(s, sp.path("targetPort")), overlay + ": Service " + s + " targetPort");
            JsonNode labels = m.get("Deployment", s).path("spec").path("template").path("metadata").path("labels");
            assertFalse(service.path("selector").isEmpty(), overlay + ": Service " + s + " has no selector");
            service.path("selector").properties().forEach(e -> assertEquals(e.getValue(), labels.path(e.getKey()),
                    overlay + ": Service " + s + " selects " + e + ", the pods are labelled " + labels));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void imagesAreTheServicesOwn(String overlay) {
        Manifests m = rendered(overlay);
        for (String s : SERVICES) {
            String image = m.container(s).path("image").asText();
            String repository = image.replaceFirst("@.*$", "").replaceFirst(":[^:/]+$", "");
            assertEquals(s, repository.substring(repository.lastIndexOf('/') + 1), overlay + ": image of " + s);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void probesAreTheHealthEndpointsOnTheHttpPort(String overlay) {
        Manifests m = rendered(overlay);
        for (String s : SERVICES) {
            assertTrue(module(s).hasDependency("quarkus-smallrye-health"), s + " serves no /q/health");
            for (Map.Entry<String, String> probe : PROBES.entrySet()) {
                JsonNode get = m.container(s).path(probe.getKey()).path("httpGet");
                assertEquals(probe.getValue(), get.path("path").asText(), overlay + ": " + s + " " + probe.getKey());
                assertEquals(module(s).httpPort(), m.containerPort(s, get.path("port")),
                        overlay + ": " + s + " " + probe.getKey() + " port");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void prometheusScrapesTheMetricsEndpoint(String overlay) {
        Manifests m = rendered(overlay);
        for (String s : SERVICES) {
            assertTrue(module(s).hasDependency("quarkus-micrometer-registry-prometheus"), s + " serves no /q/metrics");
            JsonNode a = m.get("Deployment", s).path("spec").path("template").path("metadata").path("annotations");
            assertEquals("true", a.path("prometheus.io/scrape").asText(), overlay + ": " + s + " prometheus.io/scrape");
            assertEquals(String.valueOf(module(s).httpPort()), a.path("prometheus.io/port").asText(),
                    overlay + ": " + s + " prometheus.io/port");
            assertEquals("/q/metrics", a.path("prometheus.io/path").asText(),
                    overlay + ": " + s + " prometheus.io/path");
        }
    }

    // ---------------------------------------------------------------- environment and volumes

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void everyEnvironmentVariableIsAKeyTheServiceReads(String overlay) {
        Manifests m = rendered(overlay);
        List<String> unread = new ArrayList<>();
        for (String s : SERVICES) {
            m.env(s).keySet().stream().filter(e -> !module(s).reads(e)).forEach(e -> unread.add(s + ": " + e));
        }
        assertTrue(unread.isEmpty(), overlay + ": set but read by no key of the service (neither an ${ENV} of its"
                + " application.properties, nor a key there, of its @ConfigMapping or @ConfigProperty): " + unread);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void everyPathInTheEnvironmentIsOnAVolume(String overlay) {
        Manifests m = rendered(overlay);
        for (String s : SERVICES) {
            m.env(s).forEach((name, value) -> {
                if (value != null && value.startsWith("/")) {
                    assertTrue(m.mountOf(s, value).isPresent(),
                            overlay + ": " + s + " " + name + "=" + value + " is on no volume (lost with the pod)");
                }
            });
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void everyServiceThatReadsTheBrokerAddressGetsTheSameOne(String overlay) {
        Manifests m = rendered(overlay);
        Set<String> addresses = new HashSet<>();
        for (String s : SERVICES) {
            if (module(s).properties.containsKey("kafka.bootstrap.servers")) {
                String address = effective(m, s, "kafka.bootstrap.servers");
                assertFalse(address.startsWith("127.0.0.1") || address.startsWith("localhost"),
                        overlay + ": " + s + " would dial the broker at " + address);
                addresses.add(address);
            }
        }
        assertEquals(1, addresses.size(), overlay + ": broker addresses " + addresses);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void theModelStoreIsOneReadWriteManyClaimOnlyTheTrainerWrites(String overlay) {
        Manifests m = rendered(overlay);
        Set<String> claims = new HashSet<>();
        for (String s : SERVICES) {
            for (String key : module(s).properties.keySet()) {
                if (key.endsWith(".model-store")) {
                    String path = effective(m, s, key);
                    Manifests.Mount mount = m.mountOf(s, path).orElseThrow(
                            () -> new AssertionError(overlay + ": " + s + " " + key + "=" + path + " is on no volume"));
                    claims.add(mount.claim());
                    assertEquals(!s.equals("trainer-service"), mount.readOnly(), overlay + ": " + s
                            + " mounts the model store " + (mount.readOnly() ? "read-only" : "writable"));
                }
            }
        }
        assertEquals(1, claims.size(), overlay + ": model store claims " + claims);
        JsonNode pvc = m.get("PersistentVolumeClaim", claims.iterator().next());
        assertTrue(pvc.path("spec").path("accessModes").toString().contains("ReadWriteMany"),
                overlay + ": the model store is shared by pods on several nodes: ReadWriteMany");

        String checkpoints = effective(m, "trainer-service", "rlhf.trainer.checkpoints");
        Manifests.Mount mount = m.mountOf("trainer-service", checkpoints).orElseThrow(
                () -> new AssertionError(overlay + ": trainer checkpoints " + checkpoints + " on no volume"));
        m.get("PersistentVolumeClaim", mount.claim());
        assertFalse(mount.readOnly(), overlay + ": trainer checkpoints read-only");
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void rolloutServiceDialsPolicyAndRewardServiceOnTheirPorts(String overlay) {
        Manifests m = rendered(overlay);
        ServiceModule rollout = module("rollout-service");
        Set<String> clients = new HashSet<>();
        for (String key : rollout.properties.keySet()) {
            Matcher client = GRPC_HOST.matcher(key);
            if (!client.matches()) {
                continue;
            }
            clients.add(client.group(1));
            String host = effective(m, "rollout-service", key);
            String port = effective(m, "rollout-service", "quarkus.grpc.clients." + client.group(1) + ".port");
            JsonNode service = m.find("Service", host).orElseThrow(() -> new AssertionError(
                    overlay + ": gRPC client " + client.group(1) + " dials " + host + ", which is no Service"));
            assertEquals(service.path("spec").path("ports").get(0).path("port").asText(), port,
                    overlay + ": gRPC client " + client.group(1) + " port");
            if (SERVICES.contains(host)) {
                assertEquals(String.valueOf(module(host).httpPort()), port, overlay + ": port of " + host);
            }
        }
        assertEquals(Set.of("policy", "reward"), clients, "gRPC clients of rollout-service");
    }

    // ---------------------------------------------------------------- topics and GPUs

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void kafkaTopicsAreTheProjectsTopics(String overlay) {
        Manifests m = rendered(overlay);
        Map<String, ProjectTopics.Topic> rendered = new TreeMap<>();
        for (JsonNode t : m.ofKind("KafkaTopic")) {
            assertEquals("kafka.strimzi.io/v1beta2", t.path("apiVersion").asText());
            assertEquals("rlhf", t.path("metadata").path("labels").path("strimzi.io/cluster").asText(),
                    overlay + ": KafkaTopic " + t.path("metadata").path("name") + " strimzi.io/cluster");
            JsonNode spec = t.path("spec");
            assertNotNull(spec.path("topicName").textValue(), "spec.topicName keeps the topic name under a namePrefix");
            Map<String, String> config = new TreeMap<>();
            spec.path("config").properties().forEach(e -> config.put(e.getKey(), e.getValue().asText()));
            rendered.put(spec.path("topicName").asText(),
                    new ProjectTopics.Topic(spec.path("partitions").asInt(), config));
        }
        assertEquals(ProjectTopics.read(ROOT), rendered, overlay + ": KafkaTopics vs " + ProjectTopics.SOURCE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void gpusGoExactlyToTheServicesThatRunModels(String overlay) {
        Manifests m = rendered(overlay);
        boolean gpuOverlay = overlay.equals("gpu");
        for (String s : SERVICES) {
            boolean gets = gpuOverlay && GPU_SERVICES.contains(s);
            JsonNode resources = m.container(s).path("resources");
            assertEquals(gets ? "1" : "", resources.path("limits").path(GPU).asText(),
                    overlay + ": " + s + " " + GPU + " limit");
            assertTrue(gets || resources.path("requests").path(GPU).isMissingNode(),
                    overlay + ": " + s + " requests a GPU");
            boolean tolerates = false;
            for (JsonNode t : m.get("Deployment", s).path("spec").path("template").path("spec").path("tolerations")) {
                tolerates |= t.path("key").asText().equals(GPU);
            }
            assertEquals(gets, tolerates, overlay + ": " + s + " toleration of " + GPU);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void onnxRuntimeUsesCudaExactlyInTheGpuOverlay(String overlay) {
        Manifests m = rendered(overlay);
        PROVIDER_KEYS.forEach((s, key) -> {
            String env = module(s).env(key);
            String provider = Optional.ofNullable(m.env(s).get(env)).orElse(DEFAULT_PROVIDER);
            assertEquals(overlay.equals("gpu") ? "cuda" : "cpu", provider, overlay + ": " + s + " " + key);
        });
    }

    // ---------------------------------------------------------------- helpers

    /**
     * The value service {@code s} gets for {@code key} in the pod: its environment form if set,
     * else application.properties with {@code ${ENV:default}} resolved against the pod's environment.
     */
    static String effective(Manifests m, String s, String key) {
        Map<String, String> env = m.env(s);
        String direct = env.get(ServiceModule.envForm(key));
        if (direct != null) {
            return direct;
        }
        String value = module(s).properties.get(key);
        assertNotNull(value, s + " has no " + key + " in its application.properties");
        return module(s).resolve(value, env);
    }

    static Manifests rendered(String overlay) {
        Optional<Path> kubectl = Manifests.kubectl();
        assumeTrue(kubectl.isPresent(), "kubectl is not on PATH: the manifests of k8s/overlays are not rendered"
                + " nor checked (install kubectl 1.14 or later, which has kustomize built in)");
        return RENDERED.computeIfAbsent(overlay,
                o -> Manifests.render(kubectl.get(), ROOT.resolve("k8s").resolve("overlays").resolve(o)));
    }

    static ServiceModule module(String s) {
        return MODULES.computeIfAbsent(s, name -> ServiceModule.read(ROOT, name));
    }

    private static Set<String> names(List<JsonNode> docs) {
        Set<String> names = new HashSet<>();
        docs.forEach(d -> names.add(d.path("metadata").path("name").asText()));
        return names;
    }

    /** The reactor root: rlhf.root (set by the parent pom's surefire configuration), else the parent of k8s. */
    private static Path root() {
        String prop = System.getProperty("rlhf.root");
        Path root = prop != null && !prop.isBlank() ? Path.of(prop) : Path.of("..");
        root = root.toAbsolutePath().normalize();
        if (!Files.isDirectory(root.resolve("k8s/overlays"))) {
            root = Path.of("..").toAbsolutePath().normalize();
        }
        return root;
    }
}
