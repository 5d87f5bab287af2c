package dev.rlhf.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

/** The manifests of one overlay as {@code kubectl kustomize} renders them, with the look-ups the test needs. */
final class Manifests {

    final String overlay;
    final List<JsonNode> docs;

    private Manifests(String overlay, List<JsonNode> docs) {
        this.overlay = overlay;
        this.docs = docs;
    }

    /** kubectl on PATH, if any. */
    static Optional<Path> kubectl() {
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            Path candidate = Path.of(dir, "kubectl");
            if (Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** Runs {@code kubectl kustomize <overlayDir>} and parses its documents; fails with kubectl's message. */
    static Manifests render(Path kubectl, Path overlayDir) {
        try {
            Path err = Files.createTempFile("kustomize", ".err");
            try {
                Process p = new ProcessBuilder(kubectl.toString(), "kustomize", overlayDir.toString())
                        .redirectError(err.toFile()).start();
                String yaml = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(p.waitFor(120, TimeUnit.SECONDS), "kubectl kustomize " + overlayDir + " did not finish");
                assertEquals(0, p.exitValue(), "kubectl kustomize " + overlayDir + " failed: " + Files.readString(err));
                List<JsonNode> docs = new ArrayList<>();
                MappingIterator<JsonNode> parsed = new YAMLMapper().readerFor(JsonNode.class).readValues(yaml);
                for (JsonNode doc : parsed.readAll()) {
                    if (doc != null && doc.isObject()) {
                        docs.add(doc);
                    }
                }
                return new Manifests(overlayDir.getFileName().toString(), docs);
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + kubectl, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    List<JsonNode> ofKind(String kind) {
        return docs.stream().filter(d -> d.path("kind").asText().equals(kind)).toList();
    }

    Optional<JsonNode> find(String kind, String name) {
        return ofKind(kind).stream().filter(d -> d.path("metadata").path("name").asText().equals(name)).findFirst();
    }

    JsonNode get(String kind, String name) {
        return find(kind, name).orElseThrow(() -> new AssertionError(overlay + ": no " + kind + " " + name));
    }

    /** The one container of Deployment {@code name}. */
    JsonNode container(String name) {
        JsonNode containers = get("Deployment", name).path("spec").path("template").path("spec").path("containers");
        assertEquals(1, containers.size(), overlay + ": Deployment " + name + " should have one container");
        return containers.get(0);
    }

    /**
     * The environment a container gets: its {@code env} (null values for {@code valueFrom}) and
     * the data of the ConfigMaps of its {@code envFrom}.
     */
    Map<String, String> env(String deployment) {
        JsonNode c = container(deployment);
        Map<String, String> env = new LinkedHashMap<>();
        for (JsonNode from : c.path("envFrom")) {
            assertTrue(from.has("configMapRef"), overlay + ": " + deployment + " envFrom " + from
                    + " hides which variables it sets; use a ConfigMap, or env[].valueFrom for a secret");
            String cm = from.path("configMapRef").path("name").asText();
            get("ConfigMap", cm).path("data").properties().forEach(e -> env.put(e.getKey(), e.getValue().asText()));
        }
        for (JsonNode e : c.path("env")) {
            env.put(e.path("name").asText(), e.has("value") ? e.path("value").asText() : null);
        }
        return env;
    }

    /** Port {@code port} (a number or the name of a container port) of Deployment {@code deployment} as a number. */
    int containerPort(String deployment, JsonNode port) {
        if (port.isInt()) {
            return port.asInt();
        }
        for (JsonNode p : container(deployment).path("ports")) {
            if (p.path("name").asText().equals(port.asText())) {
                return p.path("containerPort").asInt();
            }
        }
        return fail(overlay + ": " + deployment + " has no container port named '" + port.asText() + "'");
    }

    /** The volume of Deployment {@code deployment} mounted at {@code path} or above it, with its mount. */
    Optional<Mount> mountOf(String deployment, String path) {
        JsonNode pod = get("Deployment", deployment).path("spec").path("template").path("spec");
        for (JsonNode m : container(deployment).path("volumeMounts")) {
            String at = m.path("mountPath").asText();
            if (Path.of(path).normalize().startsWith(Path.of(at))) {
                for (JsonNode v : pod.path("volumes")) {
                    if (v.path("name").asText().equals(m.path("name").asText())) {
                        return Optional.of(new Mount(m, v));
                    }
                }
                fail(overlay + ": " + deployment + " mounts volume " + m.path("name") + " which it does not declare");
            }
        }
        return Optional.empty();
    }

    /** A volume mount and the volume it mounts. */
    record Mount(JsonNode mount, JsonNode volume) {
        /** The claim of a persistentVolumeClaim volume. */
        String claim() {
            JsonNode claim = volume.path("persistentVolumeClaim").path("claimName");
            assertNotNull(claim.textValue(), "volume " + volume.path("name") + " is not a PersistentVolumeClaim");
            return claim.asText();
        }

        boolean readOnly() {
            return mount.path("readOnly").asBoolean(false);
        }
    }
}
