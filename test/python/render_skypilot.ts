/**
 * Prints the SkyPilot task YAML the program renders for each model of a stack config (JSON on
 * stdin: the raw `llm-serving:*` config plus `store`), as a JSON map name → YAML, for the pytest
 * suite that validates it with SkyPilot's own parser.
 */
import { readFileSync } from "node:fs";
import { parseStackConfig } from "../../components/stackConfig";
import { skypilotTask, SkyPilotStore, toYaml } from "../../components/consumers/skypilot";
import { s3StreamingSettings } from "../../components/storage/s3Streaming";

const input = JSON.parse(readFileSync(0, "utf8")) as { config: Record<string, unknown>; store: SkyPilotStore };
const config = parseStackConfig(input.config);
const tasks = Object.fromEntries(config.models.map((m) => [m.name, toYaml(skypilotTask(m, input.store, s3StreamingSettings(config)))]));
process.stdout.write(JSON.stringify(tasks));
