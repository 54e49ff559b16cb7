// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "src/generated/", "coverage/", ".data/", "docs/examples/", "**/*.mjs", ".tmp/", "test/tmp/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/only-throw-error": "error",
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "Read configuration through src/config/env.ts only." }],
    },
  },
  {
    // The entry point and out-of-app scripts/tests may read the environment.
    files: ["src/main.ts", "test/**", "scripts/**", "bench/**", "prisma.config.ts", "vitest.config.ts", "vitest.fuzz.config.ts"],
    rules: { "no-restricted-properties": "off" },
  },
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
