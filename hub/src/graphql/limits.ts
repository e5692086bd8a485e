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
  Kind,
  NoSchemaIntrospectionCustomRule,
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  isLeafType,
  isListType,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type TypeNode,
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
  // Ranks the team's chunks, 200 deep.
  'Query.searchDocuments': 150,
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

/**
 * The cost of a field. It reads no argument but a numeric `first`: {@link checkOperationLimitsCached}
 * relies on that to reuse a cost for requests that differ only in string and id variables.
 */
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
export function checkOperationLimits(limits: OperationLimits, request: OperationRequest, caller?: IntrospectionCaller): GraphQLError[] {
  const refused = shapeRefusals(limits, request, caller);
  if (refused.length) return refused;
  return costRefusals(limits, costOf(request));
}

/** An operation to check: its parsed document, the operation chosen and the variables sent. */
export interface OperationRequest {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** The refusals of an operation's introspection, depth and aliases, in one pass over it. */
function shapeRefusals(limits: OperationLimits, request: OperationRequest, caller?: IntrospectionCaller): GraphQLError[] {
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
  return errors;
}

/**
 * The estimated cost of the operation chosen. Variables that do not fit the operation (one
 * missing, of the wrong type) are refused here, before anything runs: a GraphQLError with
 * `BAD_USER_INPUT` and HTTP status 400, as graphql-js would refuse them on execution.
 */
function costOf(request: OperationRequest): number {
  try {
    return getComplexity({
      schema: request.schema,
      query: request.document,
      operationName: request.operationName ?? undefined,
      variables: request.variables ?? {},
      estimators: [estimateCost],
    });
  } catch (err) {
    if (!(err instanceof GraphQLError)) throw err;
    throw new GraphQLError(err.message, {
      nodes: err.nodes,
      extensions: { ...err.extensions, code: 'BAD_USER_INPUT', http: { status: 400 } },
    });
  }
}

function costRefusals(limits: OperationLimits, cost: number): GraphQLError[] {
  if (cost <= limits.maxCost) return [];
  return [
    tooComplex(`The operation would cost about ${cost}; at most ${limits.maxCost} is allowed (ask for fewer items or fields)`, {
      maxCost: limits.maxCost,
      cost,
    }),
  ];
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

/** Types of variables whose values no cost depends on (see estimateCost): only whether they are sent, or null, does. */
const UNPRICED_VARIABLE_TYPES: ReadonlySet<string> = new Set(['ID', 'String']);

/** What is known of one parsed operation from earlier requests that sent it. */
interface KnownOperation {
  /** It passed the depth and alias limits, with introspection open to the caller… */
  passedOpen: boolean;
  /** …and with introspection closed to the caller. */
  passedClosed: boolean;
  /** Its costs, by operation name and the variables that can change them. */
  costs: Map<string, number>;
}

/** Most costs kept for one operation: they differ only by list sizes, filters and the like. */
const MAX_COSTS_PER_OPERATION = 64;

/**
 * {@link checkOperationLimits} for one server's `limits`, remembering what it found for each
 * parsed operation. Apollo Server hands every request with the same query text the same parsed
 * document, so its introspection, depth and aliases are checked once (per whether the caller
 * may introspect) and its cost worked out once per operation name and values of the variables
 * that can change it: numbers, booleans, enums and input objects in full, strings and ids only
 * by whether they are sent or null. An operation refused for its shape is checked in full
 * every time, and so are variables that do not fit their types; every refusal is built afresh,
 * exactly as {@link checkOperationLimits} builds it. Operations parsed anew for every request
 * (graphql-ws) gain nothing, and lose nothing.
 */
export function checkOperationLimitsCached(
  limits: OperationLimits,
): (request: OperationRequest, caller?: IntrospectionCaller) => GraphQLError[] {
  const known = new WeakMap<DocumentNode, KnownOperation>();
  return (request, caller) => {
    let entry = known.get(request.document);
    const closed = caller !== undefined && !mayIntrospect(caller);
    if (!entry || !(closed ? entry.passedClosed : entry.passedOpen)) {
      const refused = shapeRefusals(limits, request, caller);
      if (refused.length) return refused;
      entry ??= { passedOpen: false, passedClosed: false, costs: new Map() };
      if (closed) entry.passedClosed = true;
      else entry.passedOpen = true;
      known.set(request.document, entry);
    }
    const key = costKeyOf(request);
    if (key === undefined) return costRefusals(limits, costOf(request));
    let cost = entry.costs.get(key);
    if (cost === undefined) {
      cost = costOf(request);
      if (entry.costs.size >= MAX_COSTS_PER_OPERATION) entry.costs.clear();
      entry.costs.set(key, cost);
    }
    return costRefusals(limits, cost);
  };
}

/**
 * The operation name and the variables its cost can depend on, as a string; undefined when the
 * operation is not found or its variables do not fit their types.
 */
function costKeyOf(request: OperationRequest): string | undefined {
  const operation = getOperationAST(request.document, request.operationName);
  if (!operation) return undefined;
  const definitions = operation.variableDefinitions ?? [];
  const variables = request.variables ?? {};
  if (getVariableValues(request.schema, definitions, variables).errors) return undefined;
  const parts = definitions.map(({ variable, type }) => {
    const value = variables[variable.name.value];
    if (value === undefined) return 0;
    if (value === null) return 1;
    return UNPRICED_VARIABLE_TYPES.has(namedTypeOf(type)) ? 2 : [value];
  });
  return JSON.stringify([request.operationName ?? null, parts]);
}

function namedTypeOf(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedTypeOf(type.type);
}
