/**
 * Every image the program runs by default, pinned, under the registry its publisher uses, and the
 * rewrite `kubernetes.imageRegistry` applies to them (air-gapped clusters, private mirrors, pull-through
 * caches): the registry is replaced, the repository path kept (`library/` for Docker Hub's official
 * images), as Harbor's and Artifactory's proxies serve them.
 */

export const DEFAULT_IMAGES = {
  /** Mirror steps, preload, checks and housekeeping: `images.python`. */
  python: "python:3.12.12-slim-bookworm",
  /** The copier, `storage.preload.image`. */
  s5cmd: "peakcom/s5cmd:v2.3.0",
  /** `objectStore.minio.image` / `clientImage`. */
  minio: "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
  mc: "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z",
  /** JuiceFS's metadata engine, `storage.juicefs.redis.image`. */
  redis: "redis:7.4.6-alpine",
} as const;

/** `[registry/]repository[:tag][@digest]` split as the container runtimes read it (Docker Hub when no registry is named). */
export function splitImage(image: string): { registry: string; repository: string; rest: string } {
  const at = image.search(/[:@][^/]*$/);
  const name = at >= 0 ? image.slice(0, at) : image;
  const rest = at >= 0 ? image.slice(at) : "";
  const [first, ...path] = name.split("/");
  if (path.length > 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    return { registry: first, repository: path.join("/"), rest };
  }
  return { registry: "docker.io", repository: path.length > 0 ? name : `library/${name}`, rest };
}

/** A default image under `registry` (unchanged without one). */
export function withRegistry(image: string, registry: string | undefined): string {
  if (!registry) return image;
  const { repository, rest } = splitImage(image);
  return `${registry.replace(/\/+$/, "")}/${repository}${rest}`;
}
