import { defineConfig } from "vitest/config";

// Integration tests: a real kube-apiserver (scripts/toolchain.sh cluster), one process, in order.
export default defineConfig({
  test: {
    include: ["test/integration/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
