/** The few Kubernetes API calls the integration tests need: discovery, server-side apply, get, list, delete. */
import { request } from "node:https";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [field: string]: unknown;
}

interface ApiResource {
  readonly plural: string;
  readonly namespaced: boolean;
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 2000)}`);
  }
}

export class KubeClient {
  private readonly resources = new Map<string, ApiResource>();

  constructor(private readonly server: { url: string; token: string; ca: string }) {}

  raw(method: string, path: string, body?: string, contentType = "application/json"): Promise<{ status: number; body: string }> {
    const url = new URL(path, this.server.url);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.server.ca,
          headers: {
            authorization: `Bearer ${this.server.token}`,
            accept: "application/json",
            ...(body ? { "content-type": contentType, "content-length": Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }

  private async json<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const res = await this.raw(method, path, body === undefined ? undefined : JSON.stringify(body), contentType);
    if (res.status >= 300) throw new KubeApiError(res.status, res.body, `${method} ${path}`);
    return JSON.parse(res.body) as T;
  }

  /** Plural name and scope of a kind, from the API server's discovery documents. */
  async resource(apiVersion: string, kind: string): Promise<ApiResource> {
    const key = `${apiVersion}/${kind}`;
    if (!this.resources.has(key)) {
      const base = apiVersion === "v1" ? "/api/v1" : `/apis/${apiVersion}`;
      const list = await this.json<{ resources: Array<{ name: string; kind: string; namespaced: boolean }> }>("GET", base);
      for (const r of list.resources.filter((x) => !x.name.includes("/"))) {
        this.resources.set(`${apiVersion}/${r.kind}`, { plural: r.name, namespaced: r.namespaced });
      }
    }
    const found = this.resources.get(key);
    if (!found) throw new Error(`the API server does not serve ${key}`);
    return found;
  }

  private async path(obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): Promise<string> {
    const { plural, namespaced } = await this.resource(obj.apiVersion, obj.kind);
    const base = obj.apiVersion === "v1" ? "/api/v1" : `/apis/${obj.apiVersion}`;
    const ns = namespaced ? `/namespaces/${obj.metadata.namespace ?? "default"}` : "";
    return `${base}${ns}/${plural}/${obj.metadata.name}`;
  }

  /** Server-side apply with strict field validation: unknown or duplicate fields are errors; `dryRun` stores nothing. */
  async apply(obj: KubeObject, options: { dryRun?: boolean } = {}): Promise<KubeObject> {
    const query = `fieldManager=llm-serving&force=true&fieldValidation=Strict${options.dryRun ? "&dryRun=All" : ""}`;
    return this.json<KubeObject>("PATCH", `${await this.path(obj)}?${query}`, obj, "application/apply-patch+yaml");
  }

  async get(obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): Promise<KubeObject | undefined> {
    const res = await this.raw("GET", await this.path(obj));
    if (res.status === 404) return undefined;
    if (res.status >= 300) throw new KubeApiError(res.status, res.body, `GET ${obj.kind} ${obj.metadata.name}`);
    return JSON.parse(res.body) as KubeObject;
  }

  /** Every object of a kind in a namespace (or cluster-wide for cluster-scoped kinds). */
  async list(apiVersion: string, kind: string, namespace?: string): Promise<KubeObject[]> {
    const { plural, namespaced } = await this.resource(apiVersion, kind);
    const base = apiVersion === "v1" ? "/api/v1" : `/apis/${apiVersion}`;
    const ns = namespaced && namespace ? `/namespaces/${namespace}` : "";
    return (await this.json<{ items: KubeObject[] }>("GET", `${base}${ns}/${plural}`)).items;
  }

  async delete(obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): Promise<void> {
    const res = await this.raw("DELETE", `${await this.path(obj)}?propagationPolicy=Background`);
    if (res.status >= 300 && res.status !== 404) throw new KubeApiError(res.status, res.body, `DELETE ${obj.kind} ${obj.metadata.name}`);
  }
}
