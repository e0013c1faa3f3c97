import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "policies/**/*.test.ts"],
    // Integration tests need the toolchain (scripts/toolchain.sh cluster): `npm run test:integration`.
    exclude: ["test/integration/**", "test/node/**", "**/node_modules/**"],
    // Pulumi's runtime state is process-global: run files in separate forks, tests in order.
    pool: "forks",
    testTimeout: 30_000,
  },
});
