/** An authenticated endpoint: llm-serving:apiKey / apiKeys → a Secret per model → the engine's key by reference. */
import { describe, expect, it } from "vitest";
import { parse as yamlParse } from "yaml";
import { baseConfig, expectConfigError, isSecret, resolve, runProgram } from "./harness";

const REV = "7ae557604adf67be50417f59c2c2f167def9a775";
const KEY = "k3y-0123456789abcdef-shared";
const CHAT_KEY = "k3y-0123456789abcdef-chat";

function stack(extra: Record<string, unknown> = {}, models: Record<string, unknown>[] = []) {
  return baseConfig({
    storage: { strategy: "longhorn" },
    models: [
      { name: "chat", huggingFace: "Qwen/Qwen2.5-7B-Instruct", revision: REV, engine: "vllm", sizeGiB: 16 },
      { name: "code", huggingFace: "Qwen/Qwen2.5-Coder-7B-Instruct", revision: REV, engine: "sglang", sizeGiB: 16 },
      ...models,
    ],
    ...extra,
  });
}
const server = (run: Awaited<ReturnType<typeof runProgram>>, name: string) =>
  run.one("kubernetes:apps/v1:Deployment", `${name}-server`).inputs.spec.template.spec.containers[0];
const byRef = (name: string, secret: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key: "API_KEY" } } });

describe("llm-serving:apiKey", () => {
  it("gives every model a Secret and the engine its key by reference; probes stay on the open /health", async () => {
    const run = await runProgram(stack({ apiKey: KEY }), ["apiKey"]);
    for (const name of ["chat", "code"]) {
      const secret = run.one("kubernetes:core/v1:Secret", `${name}-api-key`);
      expect(await isSecret(secret.props.stringData.API_KEY)).toBe(true);
      expect(await resolve(secret.props.stringData.API_KEY)).toBe(KEY);
      expect(server(run, name).startupProbe.httpGet.path).toBe("/health");
    }
    expect(server(run, "chat").env).toContainEqual(byRef("VLLM_API_KEY", "chat-api-key"));
    // SGLang has no env form: `--config` names a server-args file on the Secret volume, so argv holds no key.
    const code = server(run, "code");
    expect(code.args.slice(-2)).toEqual(["--config", "/etc/llm-serving/api-key/server-args.yaml"]);
    expect(code.args).not.toContain("--api-key");
    expect(code.volumeMounts).toContainEqual({ name: "api-key", mountPath: "/etc/llm-serving/api-key", readOnly: true });
    const codePod = run.one("kubernetes:apps/v1:Deployment", "code-server").inputs.spec.template.spec;
    expect(codePod.volumes).toContainEqual({
      name: "api-key",
      secret: { secretName: "code-api-key", items: [{ key: "server-args.yaml", path: "server-args.yaml" }], defaultMode: 0o440 },
    });
    const file = await resolve(run.one("kubernetes:core/v1:Secret", "code-api-key").props.stringData["server-args.yaml"]);
    expect(file).toBe(`api-key: "${KEY}"\n`);
    expect(yamlParse(file)).toEqual({ "api-key": KEY });
    const smoke = run.one("kubernetes:batch/v1:Job", "chat-smoke-check").inputs.spec.template.spec.containers[0];
    expect(smoke.env).toContainEqual(byRef("SERVER_API_KEY", "chat-api-key"));
    const leaking = run.resources.filter((r) => !r.name.endsWith("-api-key") && JSON.stringify(r.inputs).includes(KEY));
    expect(leaking.map((r) => r.name)).toEqual([]);
    expect(await resolve(run.serving.models.chat.authorization)).toBe(
      "Authorization: Bearer $(kubectl -n llm get secret chat-api-key -o jsonpath='{.data.API_KEY}' | base64 -d)",
    );
  });

  it("llm-serving:apiKeys sets one model's own key; models without one stay open", async () => {
    const run = await runProgram(stack({ apiKeys: { chat: CHAT_KEY } }), ["apiKeys"]);
    expect(await resolve(run.one("kubernetes:core/v1:Secret", "chat-api-key").props.stringData.API_KEY)).toBe(CHAT_KEY);
    expect(run.resources.filter((r) => r.name === "code-api-key")).toEqual([]);
    expect(server(run, "code").args).not.toContain("--api-key");
    expect(run.serving.models.code.authorization).toBe("none");
  });

  it("prefers the model's own key over the shared one", async () => {
    const run = await runProgram(stack({ apiKey: KEY, apiKeys: { chat: CHAT_KEY } }), ["apiKey", "apiKeys"]);
    expect(await resolve(run.one("kubernetes:core/v1:Secret", "chat-api-key").props.stringData.API_KEY)).toBe(CHAT_KEY);
    expect(await resolve(run.one("kubernetes:core/v1:Secret", "code-api-key").props.stringData.API_KEY)).toBe(KEY);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>[], string, string]>([
    ["a short key", { apiKey: "short-key" }, [], "llm-serving:apiKey", "must be at least 16 characters (found 9)"],
    [
      "a key for no model",
      { apiKeys: { chta: CHAT_KEY } },
      [],
      "llm-serving:apiKeys.chta",
      'names no model; expected one of "chat", "code"',
    ],
  ])("refuses %s naming the key, never printing it", async (_what, extra, models, key, message) => {
    const { error } = await expectConfigError(stack(extra, models));
    expect(error.message.split("\n").find((l) => l.includes(`${key}:`))).toContain(message);
    expect(error.message).not.toContain(CHAT_KEY);
    expect(error.message).not.toContain("short-key");
  });

  it("never shows a malformed secret's value (apiKeys must be a map)", async () => {
    const { error } = await expectConfigError(stack({ apiKeys: "chat-key-0123456789abcdef-plain" }));
    expect(error.message).toContain('llm-serving:apiKeys: found "(a secret, not shown)"; expected record');
    expect(error.message).not.toContain("chat-key-0123456789abcdef-plain");
  });

  it("refuses --api-key in extraArgs without echoing it", async () => {
    const raw = stack();
    (raw.models as Record<string, unknown>[])[0].extraArgs = ["--api-key=plain-text-key-123456"];
    const { error } = await expectConfigError(raw);
    expect(error.message).toContain("llm-serving:models[0].extraArgs[0]: found --api-key (value not shown)");
    expect(error.message).not.toContain("plain-text-key-123456");
  });
});
