/** Prints, per engine, its pinned version (from the default image), the metric names, the compile-cache env names and the API-key arrangement the program uses, as JSON. */
import { apiKeyConfigFile } from "../../components/engines/engine";
import { engines } from "../../components/engines/registry";
import { HUB_TRANSFER_ENV } from "../../components/hub";

/** A key with the characters a YAML file could mangle. */
const SAMPLE_API_KEY = 'k3y:"quoted" #not-a-comment \\ 0123';

const facts = Object.fromEntries(
  Object.values(engines).map((e) => [
    e.name,
    {
      version: e.defaultImage.split(":v")[1],
      metrics: e.metrics,
      compileEnv: e.compileCacheEnv("/c").map((v) => v.name),
      // How the server gets its API key: env names, args, and the server-args file the Secret holds.
      apiKey: { env: e.apiKey("s").env.map((v) => v.name), args: e.apiKey("s").args, file: apiKeyConfigFile(SAMPLE_API_KEY) },
    },
  ]),
);
process.stdout.write(JSON.stringify({ engines: facts, hubTransferEnv: HUB_TRANSFER_ENV.map((e) => e.name), sampleApiKey: SAMPLE_API_KEY }));
