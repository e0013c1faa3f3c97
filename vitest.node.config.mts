import { defineConfig } from "vitest/config";

// Node tests: a real one-node cluster (bash scripts/dev.sh node up), run inside its network
// namespace by `npm run test:node`; one process, in order, each step bounded by the startup budgets.
export default defineConfig({
  test: {
    include: ["test/node/**/*.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 300_000,
  },
});
