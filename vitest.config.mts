import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "policies/**/*.test.ts"],
    // Pulumi's runtime state is process-global: run files in separate forks, tests in order.
    pool: "forks",
    testTimeout: 30_000,
  },
});
