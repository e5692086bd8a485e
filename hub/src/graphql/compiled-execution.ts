/**
 * Executes HTTP GraphQL operations with graphql-jit: each operation is compiled once into a
 * function that resolves and completes its fields without graphql-js's per-field
 * interpretation (argument coercion, type dispatch, path bookkeeping), which was most of
 * the time a read such as `document(id)` with its chunks and boxes spent in the hub.
 *
 * Apollo Server lets one component other than graphql-js run an operation: its gateway
 * interface (`load()` gives the executor; the schema is announced to `onSchemaLoadOrUpdate`).
 * Apollo still parses, validates and runs every plugin hook before execution, so the operation
 * limits and error formatting stay as they are. Subscriptions (graphql-ws) use graphql-js.
 */
import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { GraphQLError, printSchema, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';

/** How many compiled operations are kept; clients send a handful of distinct documents. */
const MAX_COMPILED = 1_000;

/**
 * Compiled operations by document and operation name. Apollo hands the same parsed document
 * for the same query text (its document cache), so the document is the key.
 */
class CompiledOperations {
  readonly #byDocument = new WeakMap<DocumentNode, Map<string, CompiledQuery | ExecutionResult>>();
  #count = 0;

  constructor(private readonly schema: GraphQLSchema) {}

  get(document: DocumentNode, operationName: string | null): CompiledQuery | ExecutionResult {
    let byName = this.#byDocument.get(document);
    const name = operationName ?? '';
    const known = byName?.get(name);
    if (known) return known;
    const compiled = compileQuery(this.schema, document, operationName ?? undefined);
    if (this.#count >= MAX_COMPILED) return compiled;
    if (!byName) this.#byDocument.set(document, (byName = new Map()));
    byName.set(name, compiled);
    this.#count += 1;
    return compiled;
  }
}

/**
 * graphql-jit's error as graphql-js would have raised it (Apollo reads its `extensions`, which
 * graphql-jit leaves out when empty), with BAD_USER_INPUT on refused variables as Apollo gives.
 */
function standardError(error: GraphQLError, refusedInput: boolean): GraphQLError {
  const extensions =
    refusedInput && error.extensions?.code === undefined ? { ...error.extensions, code: 'BAD_USER_INPUT' } : error.extensions;
  const standard = new GraphQLError(error.message, { path: error.path, originalError: error.originalError ?? undefined, extensions });
  Object.defineProperty(standard, 'locations', { value: error.locations, enumerable: error.locations !== undefined, writable: true });
  return standard;
}

/** The gateway that hands Apollo `schema` and an executor running compiled operations. */
export function compiledExecution(schema: GraphQLSchema): GatewayInterface {
  const operations = new CompiledOperations(schema);
  const executor: GatewayExecutor = async ({ document, operationName, context, request }) => {
    const compiled = operations.get(document, operationName);
    const result = isCompiledQuery(compiled) ? await compiled.query(undefined, context, request.variables ?? {}) : compiled;
    if (!result.errors) return result;
    // Without data, the operation did not start: its variables were refused.
    const refusedInput = result.data === undefined;
    return { ...result, errors: result.errors.map((e) => standardError(e, refusedInput)) };
  };
  return {
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: printSchema(schema) });
      return () => undefined;
    },
    async load() {
      return { executor };
    },
    async stop() {},
  };
}
