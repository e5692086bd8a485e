/**
 * Limits on what one GraphQL operation may ask for, over HTTP and over graphql-ws alike:
 * a maximum selection depth (graphql-armor's max-depth rule) and a maximum estimated cost
 * (graphql-query-complexity). Every object in the answer costs 1 (scalars ride with the object
 * that holds them); a field taking `first` multiplies its selection by that number, and other
 * lists by their usual size; fields that do real work (search, a document's whole text) cost
 * more. At most MAX_ALIASES aliases, so that no field runs many times for the price of one.
 * The schema's own description (introspection) is free, but bounded by the aliases, by
 * graphql-js's limit on nested introspection lists (MaxIntrospectionDepthRule, a standard
 * validation rule) and by a depth of its own (INTROSPECTION_MAX_DEPTH). An operation over any
 * limit is refused before it runs, with `QUERY_TOO_COMPLEX`. Who may introspect at all is
 * {@link checkIntrospection}'s to say.
 */
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  getNamedType,
  getNullableType,
  isLeafType,
  isListType,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { IntrospectionAccess } from '../config.ts';

export interface OperationLimits {
  maxDepth: number;
  maxCost: number;
}

/** Most aliases in one operation: each alias runs its field again, whatever it costs. */
export const MAX_ALIASES = 30;

/**
 * Deepest operation when introspection (`__schema`) is counted: the standard introspection
 * query that tools send (graphql-js `getIntrospectionQuery`, 21 levels counting its fragments)
 * with a little room. GRAPHQL_MAX_DEPTH applies to everything else in the operation, and
 * raises this bound when it is higher.
 */
export const INTROSPECTION_MAX_DEPTH = 24;

/** Fields whose resolver does more than read a row: their own cost, before their selection. */
const FIELD_COSTS: Record<string, number> = {
  // Embeds the query and ranks the team's chunks.
  'Query.search': 100,
  // Ranks the team's chunks by one document's embedding.
  'Query.moreLikeThis': 100,
  // Reads and joins every page.
  'Document.text': 10,
};

/** The usual size of list fields that take no `first`; a connection's lists are sized by its `first`. */
const LIST_SIZES: Record<string, number> = {
  'Document.pages': 10,
  'Document.chunks': 50,
  'Page.words': 250,
  'DocumentConnection.edges': 1,
  'DocumentConnection.nodes': 1,
  'Me.teams': 5,
  'Query.members': 50,
  'Query.apiKeys': 10,
};
const DEFAULT_LIST_SIZE = 10;

const estimateCost: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  // The schema's own description (introspection) is free: tools ask for it whole.
  if (field.name.startsWith('__') || getNamedType(field.type).name.startsWith('__')) return 0;
  const own = FIELD_COSTS[`${type.name}.${field.name}`];
  if (isLeafType(getNamedType(field.type))) return own ?? 0;
  const first = typeof args.first === 'number' && args.first > 0 ? args.first : undefined;
  const size = first ?? (isListType(getNullableType(field.type)) ? (LIST_SIZES[`${type.name}.${field.name}`] ?? DEFAULT_LIST_SIZE) : 1);
  return (own ?? 1) + size * childComplexity;
};

const tooComplex = (message: string, details: Record<string, unknown>) =>
  new GraphQLError(message, { extensions: { code: 'QUERY_TOO_COMPLEX', details, http: { status: 400 } } });

/** Who may ask an operation to introspect: what the hub allows, and whether the caller is signed in. */
export interface IntrospectionCaller {
  access: IntrospectionAccess;
  authenticated: boolean;
}

/** Whether `access` lets this caller introspect the schema. */
const mayIntrospect = ({ access, authenticated }: IntrospectionCaller) =>
  access === IntrospectionAccess.Anonymous || (access === IntrospectionAccess.Authenticated && authenticated);

/** The refusal of an operation that introspects to a caller who may not. */
const introspectionRefusal = (access: IntrospectionAccess) =>
  access === IntrospectionAccess.Off
    ? new GraphQLError('Introspection is turned off on this hub', {
        extensions: { code: 'INTROSPECTION_DISABLED', http: { status: 400 } },
      })
    : new GraphQLError('Introspection needs an access token or API key', {
        extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
      });

/**
 * Checks a parsed, valid operation against the limits; answers the refusals (empty when it
 * may run). `variables` size the lists an operation asks for through them. With `caller`,
 * an operation that introspects the schema to a caller who may not is refused first, alone,
 * as {@link checkIntrospection} would, in the same pass over the operation.
 */
export function checkOperationLimits(
  limits: OperationLimits,
  request: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variables?: Record<string, unknown> | null },
  caller?: IntrospectionCaller,
): GraphQLError[] {
  const errors: GraphQLError[] = [];
  let depthRefused = false;
  const tooDeep = (maxDepth: number) => (_ctx: unknown, err: GraphQLError) => {
    // Both depth rules may refuse the same operation: one refusal says it.
    if (depthRefused) return;
    depthRefused = true;
    const found = /found (\d+)/.exec(err.message)?.[1];
    errors.push(
      tooComplex(`The operation is nested ${found ?? 'too'} levels deep; at most ${maxDepth} are allowed`, {
        maxDepth,
        ...(found ? { depth: Number(found) } : {}),
      }),
    );
  };
  const introspectionMaxDepth = Math.max(limits.maxDepth, INTROSPECTION_MAX_DEPTH);
  const closed = caller !== undefined && !mayIntrospect(caller);
  // One pass over the operation for every rule; each limit reports its refusal with our code.
  const introspects = validate(request.schema, request.document, [
    // Only the introspection rule reports to validate(): the others answer through onReject.
    ...(closed ? [NoSchemaIntrospectionCustomRule] : []),
    // Everything but the schema's description…
    maxDepthRule({ n: limits.maxDepth, ignoreIntrospection: true, propagateOnRejection: false, onReject: [tooDeep(limits.maxDepth)] }),
    // …and the whole operation, the description included, within a bound of its own.
    maxDepthRule({
      n: introspectionMaxDepth,
      ignoreIntrospection: false,
      propagateOnRejection: false,
      onReject: [tooDeep(introspectionMaxDepth)],
    }),
    maxAliasesRule({
      n: MAX_ALIASES,
      propagateOnRejection: false,
      onReject: [() => errors.push(tooComplex(`The operation uses more than ${MAX_ALIASES} aliases`, { maxAliases: MAX_ALIASES }))],
    }),
  ]);
  if (closed && introspects.length) return [introspectionRefusal(caller.access)];
  if (errors.length) return errors;
  const cost = getComplexity({
    schema: request.schema,
    query: request.document,
    operationName: request.operationName ?? undefined,
    variables: request.variables ?? {},
    estimators: [estimateCost],
  });
  if (cost > limits.maxCost) {
    errors.push(
      tooComplex(`The operation would cost about ${cost}; at most ${limits.maxCost} is allowed (ask for fewer items or fields)`, {
        maxCost: limits.maxCost,
        cost,
      }),
    );
  }
  return errors;
}

/**
 * Refuses an operation that introspects the schema (`__schema` or `__type`, found by
 * graphql-js's NoSchemaIntrospectionCustomRule) to a caller `access` does not let do so:
 * `UNAUTHENTICATED` without a valid token when it is `authenticated`, `INTROSPECTION_DISABLED`
 * when it is `off`. Answers the refusals (empty when it may run). {@link checkOperationLimits}
 * makes the same check, given the caller, in its own pass.
 */
export function checkIntrospection(
  access: IntrospectionAccess,
  request: { schema: GraphQLSchema; document: DocumentNode },
  authenticated: boolean,
): GraphQLError[] {
  if (mayIntrospect({ access, authenticated })) return [];
  if (!validate(request.schema, request.document, [NoSchemaIntrospectionCustomRule]).length) return [];
  return [introspectionRefusal(access)];
}
