package io.dltrain.cli;

import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.kernels.Ptx;
import io.dltrain.models.ModelRegistry;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.module.Configuration;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.lang.module.ResolvedModule;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The library jars as Java modules, after {@code package} (Maven runs this in the {@code integration-test} phase, as
 * ShadedJarIT, when the jars the cli's tests run on are the built ones). Each jar's manifest names its automatic module
 * after its root package ({@code Automatic-Module-Name: io.dltrain.runtime}), so that a user's {@code module-info.java}
 * {@code requires} the same name whatever the jar file is called (renamed, shaded, or versioned by a build tool), and
 * the four together resolve as modules: no package is in two of them (a split package fails on the module path).
 */
class LibraryModulesIT {

    /** A class of each library jar, by the module name its manifest must give. */
    static final Map<String, Class<?>> LIBRARY = new LinkedHashMap<>();
    static {
        LIBRARY.put("io.dltrain.kernels", Ptx.class);
        LIBRARY.put("io.dltrain.runtime", Tensor.class);
        LIBRARY.put("io.dltrain.datasets", DatasetRegistry.class);
        LIBRARY.put("io.dltrain.models", ModelRegistry.class);
    }

    @Test
    void eachLibraryJarIsAnAutomaticModuleNamedAfterItsRootPackageWhateverItsFileName(@TempDir Path dir) throws Exception {
        List<Path> renamed = new ArrayList<>();
        for (var e : LIBRARY.entrySet()) {
            Path jar = Path.of(e.getValue().getProtectionDomain().getCodeSource().getLocation().toURI());
            assertTrue(Files.isRegularFile(jar) && jar.toString().endsWith(".jar"), e.getValue().getName() + " was loaded from " + jar
                    + ", not from a jar: run through Maven's integration-test phase (mvn verify), or after mvn install");
            // a name that says nothing of the module: without Automatic-Module-Name the module would be called "lib0" etc.
            Path copy = Files.copy(jar, dir.resolve("lib" + renamed.size() + ".jar"));
            renamed.add(copy);
            Set<ModuleReference> found = ModuleFinder.of(copy).findAll();
            assertEquals(1, found.size(), jar + ": " + found);
            ModuleDescriptor d = found.iterator().next().descriptor();
            assertEquals(e.getKey(), d.name(), jar + " (copied as " + copy.getFileName() + ") is module " + d.name());
            assertTrue(d.isAutomatic(), d.name() + " should be an automatic module (the jar has no module-info.class)");
            List<String> foreign = d.packages().stream().filter(p -> !p.equals(d.name()) && !p.startsWith(d.name() + ".")).sorted().toList();
            assertEquals(List.of(), foreign, jar + " holds packages outside its module's root package " + d.name());
        }
        // the four on one module path: resolution fails if two of them hold the same package
        Configuration cfg = ModuleLayer.boot().configuration().resolve(ModuleFinder.of(renamed.toArray(Path[]::new)), ModuleFinder.of(),
                LIBRARY.keySet());
        assertEquals(new TreeSet<>(LIBRARY.keySet()), cfg.modules().stream().map(ResolvedModule::name).collect(Collectors.toCollection(TreeSet::new)));
    }
}
