package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.env.Environment;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Plugins instantiated from classes on the classpath, all in the application class loader. It lives in
 * this package because plugin instantiation and the LoadedPlugin record are package-private.
 */
public class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> plugins;

    public ClasspathPluginsService(Environment env, Collection<Class<? extends Plugin>> pluginClasses) {
        // An empty loader: nothing is read from modules/ or plugins/.
        super(env.settings(), env.configDir(), new PluginsLoader(Set.of(), Set.of(), Map.of()));
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getSimpleName(),           // name
                "classpath plugin",                    // description
                "NA",                                  // version
                Build.current().version(),             // elasticsearch version
                Integer.toString(Runtime.version().feature()),
                pluginClass.getName(),                 // class name
                null,                                  // module name
                List.of(),                             // extended plugins
                false,                                 // has native controller
                false,                                 // licensed
                false,                                 // modular
                false,                                 // stable API
                PluginDescriptor.DeploymentTarget.ALL
            );
            Plugin plugin = loadPlugin(pluginClass, env.settings(), env.configDir());
            loaded.add(new LoadedPlugin(descriptor, plugin, pluginClass.getClassLoader()));
        }
        loadExtensions(loaded);
        this.plugins = List.copyOf(loaded);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return plugins;
    }

    @Override
    public PluginsAndModules info() {
        return new PluginsAndModules(plugins.stream().map(p -> new PluginRuntimeInfo(p.descriptor())).toList(), List.of());
    }

    /**
     * Every plugin shares one class loader, so each one finds every service provider on the classpath;
     * keep one instance per provider class.
     */
    @Override
    public <T> List<? extends T> loadServiceProviders(Class<T> service) {
        Map<Class<?>, T> byClass = new LinkedHashMap<>();
        for (T provider : super.loadServiceProviders(service)) {
            byClass.putIfAbsent(provider.getClass(), provider);
        }
        return List.copyOf(byClass.values());
    }
}
