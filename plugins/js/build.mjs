// Builds one JavaScript plugin with componentize-js, default settings (its components import
// the standard WASI 0.2 interfaces, wasi:http among them, which the gateway provides denied):
//   node build.mjs <plugin dir with app.js and world> <wit dir> <output .wasm>
import { componentize } from "@bytecodealliance/componentize-js";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const [dir, witPath, output] = process.argv.slice(2);
const worldName = (await readFile(join(dir, "world"), "utf8")).trim();
const { component } = await componentize({ sourcePath: join(dir, "app.js"), witPath, worldName });
await writeFile(output, component);
