package dev.quire.esnode;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.ClasspathNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs a single Elasticsearch node on loopback for development and tests, from the jars on Maven
 * Central: the server, the Netty HTTP/transport layer, and the two small plugins in this package that
 * stand in for the distribution's modules the adapter needs.
 *
 * <p>Arguments are settings in the distribution's command-line form, {@code -Ekey=value}; at least
 * {@code path.home} is required. Defaults: single-node discovery, bound to 127.0.0.1, disk watermarks off.
 */
public final class Main {
    private static final List<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class,
        RootEndpointPlugin.class,
        EnglishAnalysisPlugin.class
    );

    public static void main(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder()
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("node.name", "quire-dev")
            .put("cluster.name", "quire-dev")
            .put("logger.level", "INFO")
            // The native libraries (zstd, vector kernels) ship only in the distribution; without them
            // the node uses the Java code paths, and this logger would print a stack trace saying so.
            .put("logger.org.elasticsearch.nativeaccess.NativeAccess", "ERROR")
            // A test node often runs on a nearly full disk; the watermarks would make indices read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false);
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (!arg.startsWith("-E") || eq < 3) {
                System.err.println("usage: Main -Epath.home=DIR [-Ekey=value...]; got " + arg);
                System.exit(2);
            }
            builder.put(arg.substring(2, eq), arg.substring(eq + 1));
        }
        Settings settings = builder.build();
        if (settings.get("path.home") == null) {
            System.err.println("usage: Main -Epath.home=DIR [-Ekey=value...]");
            System.exit(2);
        }

        // Console logging only, at logger.level: there is no config/log4j2.properties; the caller
        // redirects stdout to a file.
        LogConfigurator.configureWithoutConfig(settings);
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "quire-dev");

        Node node = new ClasspathNode(env, PLUGINS);
        CountDownLatch closed = new CountDownLatch(1);
        // SIGTERM (or SIGINT) closes the node cleanly, so its data stays consistent for the next start.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "quire-es-shutdown"));
        try {
            node.start();
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
        // The node's threads are daemons: keep the JVM alive until the shutdown hook has run.
        closed.await();
    }
}
