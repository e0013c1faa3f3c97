/** Prints, per engine, its pinned version (from the default image), the metric names and the compile-cache env names the program uses, as JSON. */
import { engines } from "../../components/engines/registry";
import { HUB_TRANSFER_ENV } from "../../components/serving/directFromHub";

const facts = Object.fromEntries(
  Object.values(engines).map((e) => [
    e.name,
    { version: e.defaultImage.split(":v")[1], metrics: e.metrics, compileEnv: e.compileCacheEnv("/c").map((v) => v.name) },
  ]),
);
process.stdout.write(JSON.stringify({ engines: facts, hubTransferEnv: HUB_TRANSFER_ENV.map((e) => e.name) }));
