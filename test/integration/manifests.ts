/**
 * The Kubernetes objects a program run asks for, as the Pulumi Kubernetes provider would send them:
 * apiVersion/kind from the type token, auto-names for unnamed objects, and whether `pulumi destroy`
 * keeps the object (protect / retainOnDelete).
 */
import { createHash } from "node:crypto";
import { RecordedResource } from "../harness";
import { KubeObject } from "./kubeClient";

export interface DesiredObject {
  readonly object: KubeObject;
  /** The Pulumi resource name (stable across updates). */
  readonly resourceName: string;
  /** Kept by `pulumi destroy`: protected or retainOnDelete. */
  readonly retained: boolean;
}

/** `kubernetes:apps/v1:Deployment` → apps/v1, Deployment; core/v1 → v1. Helm releases are not objects. */
function gvk(type: string): { apiVersion: string; kind: string } | undefined {
  const m = /^kubernetes:([^:]+):([A-Za-z]+)$/.exec(type);
  if (!m || m[1].startsWith("helm.sh/") || m[1] === "yaml") return undefined;
  return { apiVersion: m[1] === "core/v1" ? "v1" : m[1], kind: m[2] };
}

/** Pulumi's wire form of a secret value; the provider receives it and sends the plain value. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (SECRET_SIG in record) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

const digest = (value: unknown) => createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 8);

/**
 * Pulumi auto-names an unnamed object `<resource name>-<random>` and keeps that name until the object
 * must be replaced; a content digest gives the same behaviour deterministically (immutable objects
 * such as Jobs get a new name exactly when their content changes).
 */
export function desiredObjects(resources: RecordedResource[]): DesiredObject[] {
  const objects: DesiredObject[] = [];
  for (const r of resources) {
    const target = gvk(r.type);
    if (!target) continue;
    const { apiVersion: _a, kind: _k, ...fields } = unwrapSecrets(r.inputs) as Record<string, any>;
    const metadata = { ...(fields.metadata ?? {}) };
    if (!metadata.name) metadata.name = `${r.name}-${digest(fields)}`;
    objects.push({
      object: { ...fields, ...target, metadata } as KubeObject,
      resourceName: r.name,
      retained: r.opts.protect === true || r.opts.retainOnDelete === true,
    });
  }
  return objects;
}

/** `Kind namespace/name`, the identity of an object in the cluster. */
export function objectKey(o: Pick<KubeObject, "kind" | "metadata">): string {
  return `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}
