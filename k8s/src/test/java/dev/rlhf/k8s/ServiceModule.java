package dev.rlhf.k8s;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What one service module reads from its environment, taken from its sources: the default
 * HTTP port, the {@code ${ENV}} references and keys of its {@code application.properties}, the
 * keys of its {@code @ConfigMapping} interfaces and the names of its {@code @ConfigProperty}s.
 *
 * <p>The rule for an environment variable the manifests set (Quarkus maps a key to the
 * environment by upper-casing it and writing every other character as {@code _}): it is read
 * when it is
 * <ol>
 * <li>referenced as {@code ${NAME...}} in application.properties, or</li>
 * <li>the environment form of a key of application.properties (without a {@code %profile}), or</li>
 * <li>the environment form of a key of a {@code @ConfigMapping} interface: its prefix, then the
 * path of methods (kebab-case or {@code @WithName}) through its nested group interfaces to a
 * value, with {@code _<i>_} for an element of a list of groups, or the name of a
 * {@code @ConfigProperty} in its code, or</li>
 * <li>{@link #LAUNCHER_ENV}: read by the image's launcher, not by the application.</li>
 * </ol>
 */
final class ServiceModule {

    /** Read by run-java.sh of the image (k8s/docker/Dockerfile.jvm), not by the application. */
    static final Set<String> LAUNCHER_ENV = Set.of("JAVA_OPTS_APPEND");

    private static final Pattern PORT = Pattern.compile("\\$\\{[A-Z0-9_]+:(\\d+)}|(\\d+)");
    private static final Pattern ENV_REF = Pattern.compile("\\$\\{([A-Za-z0-9_]+)");
    private static final Pattern INNERMOST_REF = Pattern.compile("\\$\\{([A-Za-z0-9_.]+)(?::([^${}]*))?}");
    private static final Pattern MAPPING = Pattern.compile("@ConfigMapping\\(prefix\\s*=\\s*\"([^\"]+)\"\\)");
    private static final Pattern CONFIG_PROPERTY = Pattern.compile("@ConfigProperty\\(name\\s*=\\s*\"([^\"]+)\"");
    private static final Pattern WITH_NAME = Pattern.compile("@WithName\\(\"([^\"]+)\"\\)");
    private static final Pattern METHOD = Pattern.compile("^\\s*([\\w.<>?, \\[\\]]+)\\s+(\\w+)\\(\\);\\s*$");
    private static final Pattern INTERFACE = Pattern.compile("\\binterface\\s+(\\w+)");
    private static final Pattern GROUP_TYPE = Pattern.compile("(?:Optional<)?(List<)?(\\w+)>?>?");

    final String name;
    final Path dir;
    /** application.properties without %profile keys. */
    final Map<String, String> properties;
    /** Environment forms of the keys its code reads (@ConfigMapping, @ConfigProperty); list indices {@code \\d+}. */
    private final List<Pattern> codeKeys;

    private ServiceModule(String name, Path dir, Map<String, String> properties, List<Pattern> codeKeys) {
        this.name = name;
        this.dir = dir;
        this.properties = properties;
        this.codeKeys = codeKeys;
    }

    static ServiceModule read(Path root, String name) {
        Path dir = root.resolve(name);
        return new ServiceModule(name, dir, properties(dir.resolve("src/main/resources/application.properties")),
                codeKeys(dir.resolve("src/main/java")));
    }

    /** The default of {@code quarkus.http.port}, e.g. 8081 of {@code ${POLICY_SERVICE_HTTP_PORT:8081}}. */
    int httpPort() {
        String value = properties.get("quarkus.http.port");
        Matcher m = PORT.matcher(value == null ? "" : value.strip());
        if (!m.matches()) {
            fail(name + ": quarkus.http.port is '" + value + "', expected a number or ${ENV:number}");
        }
        return Integer.parseInt(m.group(1) != null ? m.group(1) : m.group(2));
    }

    /** Whether the module's pom declares {@code artifactId}. */
    boolean hasDependency(String artifactId) {
        return read(dir.resolve("pom.xml")).contains("<artifactId>" + artifactId + "</artifactId>");
    }

    /** Whether the service reads environment variable {@code env} (the rule of the class javadoc). */
    boolean reads(String env) {
        if (LAUNCHER_ENV.contains(env)) {
            return true;
        }
        for (Map.Entry<String, String> p : properties.entrySet()) {
            if (envForm(p.getKey()).equals(env) || references(p.getValue()).contains(env)) {
                return true;
            }
        }
        return codeKeys.stream().anyMatch(k -> k.matcher(env).matches());
    }

    /** The environment form of {@code key}, asserting the service reads it. */
    String env(String key) {
        String env = envForm(key);
        assertTrue(reads(env), name + " does not read " + key + " (" + env + "): no such key in its sources");
        return env;
    }

    /** {@code value} of application.properties with every {@code ${NAME:default}} resolved against {@code env}. */
    String resolve(String value, Map<String, String> env) {
        String v = value;
        for (Matcher m = INNERMOST_REF.matcher(v); m.find(); m = INNERMOST_REF.matcher(v)) {
            String got = env.getOrDefault(m.group(1), m.group(2));
            if (got == null) {
                fail(name + ": ${" + m.group(1) + "} in '" + value + "' has no default and the pod does not set it");
            }
            v = v.substring(0, m.start()) + got + v.substring(m.end());
        }
        return v;
    }

    /** Quarkus' environment form of a configuration key: upper case, every other character '_'. */
    static String envForm(String key) {
        return key.replaceAll("[^A-Za-z0-9]", "_").toUpperCase();
    }

    private static Set<String> references(String value) {
        Set<String> refs = new HashSet<>();
        for (Matcher m = ENV_REF.matcher(value); m.find();) {
            refs.add(m.group(1));
        }
        return refs;
    }

    private static Map<String, String> properties(Path file) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        Map<String, String> out = new HashMap<>();
        p.stringPropertyNames().stream().filter(k -> !k.startsWith("%")).forEach(k -> out.put(k, p.getProperty(k)));
        return out;
    }

    /** Keys of the {@code @ConfigMapping} interfaces and {@code @ConfigProperty}s under {@code sources}, as env forms. */
    private static List<Pattern> codeKeys(Path sources) {
        List<Path> files;
        try (Stream<Path> s = Files.walk(sources)) {
            files = s.filter(f -> f.toString().endsWith(".java")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + sources, e);
        }
        List<Pattern> out = new ArrayList<>();
        for (Path f : files) {
            String text = read(f);
            for (Matcher p = CONFIG_PROPERTY.matcher(text); p.find();) {
                out.add(Pattern.compile(Pattern.quote(envForm(p.group(1)))));
            }
            Matcher m = MAPPING.matcher(text);
            if (m.find()) {
                Map<String, List<Method>> interfaces = interfaces(text);
                Matcher root = INTERFACE.matcher(text);
                assertTrue(root.find(m.end()), f + ": no interface after @ConfigMapping");
                keys(Pattern.quote(envForm(m.group(1))), root.group(1), interfaces, out);
            }
        }
        return out;
    }

    /** The keys below {@code path} of group {@code type}: a leaf per value method, a recursion per group. */
    private static void keys(String path, String type, Map<String, List<Method>> interfaces, List<Pattern> out) {
        for (Method method : interfaces.get(type)) {
            String key = path + "_" + Pattern.quote(envForm(method.key()));
            Matcher group = GROUP_TYPE.matcher(method.type().replace(" ", ""));
            if (group.matches() && interfaces.containsKey(group.group(2))) {
                keys(group.group(1) != null ? key + "_\\d+_" : key, group.group(2), interfaces, out);
            } else {
                out.add(Pattern.compile(key));
            }
        }
    }

    /** An abstract method of a mapping interface: its return type and key (kebab-case of its name, or @WithName). */
    private record Method(String type, String key) {
    }

    /** The interfaces of a mapping source with their abstract methods. Nesting is followed by counting braces. */
    private static Map<String, List<Method>> interfaces(String source) {
        Map<String, List<Method>> out = new HashMap<>();
        List<String> open = new ArrayList<>(); // the interface of each open brace; null for other blocks
        Optional<String> withName = Optional.empty();
        for (String line : source.split("\n")) {
            Matcher named = WITH_NAME.matcher(line);
            if (named.find()) {
                withName = Optional.of(named.group(1));
            }
            Matcher method = METHOD.matcher(line);
            if (method.matches() && !open.isEmpty() && open.get(open.size() - 1) != null) {
                out.get(open.get(open.size() - 1)).add(
                        new Method(method.group(1).strip(), withName.orElse(kebab(method.group(2)))));
                withName = Optional.empty();
            }
            Matcher declared = INTERFACE.matcher(line);
            String opened = declared.find() && !line.strip().startsWith("*") ? declared.group(1) : null;
            for (char c : line.toCharArray()) {
                if (c == '{') {
                    open.add(opened);
                    if (opened != null) {
                        out.put(opened, new ArrayList<>());
                    }
                    opened = null;
                } else if (c == '}') {
                    open.remove(open.size() - 1);
                }
            }
        }
        return out;
    }

    /** maxBatch → max-batch, SmallRye Config's default naming of a mapping method. */
    private static String kebab(String method) {
        List<String> words = new ArrayList<>();
        for (String w : method.split("(?=[A-Z])")) {
            words.add(w.toLowerCase());
        }
        return String.join("-", words);
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
