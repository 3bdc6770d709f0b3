/**
 * Client for the server extension's REST API (see jupyter_token_count/server/openapi.yaml).
 *
 * The API key never reaches the browser: every count goes through these endpoints, which
 * ServerConnection authenticates (token / cookie + XSRF) like any other Jupyter request.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Mode = 'auto' | 'api' | 'offline';

export interface ICellPayload {
  id: string;
  cell_type: 'code' | 'markdown' | 'raw';
  source: string;
  outputs?: unknown[];
}

/** A notebook copy kept by the server (POST cells with keep), as an answer names it. */
export interface IStateRef {
  id: string;
  version: number;
}

/** The whole notebook (`cells`), or what changed since a kept copy (`base`, `changes`, `order`). */
export interface ICellsRequest {
  model?: string;
  cells?: ICellPayload[];
  /** With cells: keep a copy, so that later posts send only what changed (the answer's `state` names it). */
  keep?: boolean;
  /** With keep: the id of this notebook's previous copy, which the server drops. */
  replaces?: string;
  /** The copy the changes apply to: the state of the last answer. */
  base?: IStateRef;
  /** With base: the cells added or edited since that answer. */
  changes?: ICellPayload[];
  /** With base: every cell id in order, when cells were added, removed or moved. */
  order?: string[];
  include_outputs: boolean;
  mode: Mode;
  /** Auto mode: the longest wait for the API before the estimate answers (pending); 0 answers at once. */
  deadline_ms?: number;
  /** Queue exact per-cell counts as background work (default true; the server's setting decides too). */
  cell_counts?: boolean;
  /** False: do not ask the API for the total (while typing); the cached total or the estimate. */
  exact_total?: boolean;
}

/** A cell's share of the notebook total (see openapi.yaml). */
export interface ICellCount {
  id: string;
  tokens: number;
  /** The share's likely range (the real share is within it nine times in ten); tokens when exact. */
  low: number;
  high: number;
  exact: boolean;
  cell_type: string;
  /** The share at the input rate the whole request pays (computed by the server). */
  cost_usd: number | null;
  /** Why the share is not exact (absent when exact). */
  reason?: string;
}

export interface ICellsResult {
  model: string;
  display_name?: string | null;
  /** The notebook counted as one request: what the CLI and count_tokens(Path) give. */
  total: number;
  /** The range that holds the real total nine times in ten; total when exact. */
  low: number;
  high: number;
  exact: boolean;
  /** The exact total has been asked for and is not in yet. */
  pending: boolean;
  /** total − Σ cells[].tokens: the request frame, the joins between cells, merged tokens. */
  joins_and_frame: number;
  reason: string | null;
  context_window: number | null;
  context_fraction?: number | null;
  cost_usd: number | null;
  retry_after?: number;
  /** Sum of the shares per cell type. */
  by_type: Record<string, number>;
  /** Exact per-cell counts still queued as background work on the server. */
  cells_pending: number;
  /** What the user must know about this count (e.g. an unknown model id estimated with a guessed tokenizer). */
  warnings?: string[];
  /** Each cell's share, in order; with `delta`, only the shares that changed since the base's answer. */
  cells: ICellCount[];
  /** True when `cells` holds only the shares that changed (an answer to changes). */
  delta?: boolean;
  /** The kept copy, to send as `base` with the next changes. */
  state?: IStateRef;
}

/** One count (POST count, and the parts of POST document): see TokenCount in openapi.yaml. */
export interface ITokenCount {
  input_tokens: number;
  /** The range that holds the real count nine times in ten; input_tokens when exact. */
  low: number;
  high: number;
  exact: boolean;
  source: 'api' | 'offline' | 'cache';
  model: string;
  reason: string | null;
  cost_usd: number | null;
  context_window: number | null;
  context_fraction?: number | null;
  display_name?: string | null;
  retry_after?: number;
  pending?: boolean;
  /** With context editing (context_management): the API's count before the edits; input_tokens is after them. */
  original_input_tokens?: number;
  warnings?: string[];
}

/** How a document's content travels: its text, or (images, PDFs) its bytes in base64. */
export type DocumentEncoding = 'text' | 'base64';

export interface IDocumentRequest {
  /** The file name: its suffix decides how the text is read (.json, .jsonl: messages or a request). */
  name: string;
  /** The document's text, or its bytes in base64 when `encoding` says so. */
  text: string;
  encoding?: DocumentEncoding;
  selection?: string | null;
  model?: string;
  mode: Mode;
  deadline_ms?: number;
  /** False while typing: the cached exact count or the offline estimate, without asking the API. */
  exact_total?: boolean;
}

export interface IDocumentResult {
  kind: 'text' | 'messages' | 'request' | 'image' | 'pdf';
  /** What the document was counted as, and why, in one line. */
  note: string;
  total: ITokenCount;
  selection: ITokenCount | null;
}

export interface IModelEntry {
  id: string;
  display_name: string;
  aliases?: string[];
  lifecycle?: string;
  tokenizer?: string;
  context_window: number | null;
  max_output?: number | null;
  input_price_per_mtok?: number | null;
  output_price_per_mtok?: number | null;
  image_tier?: string;
  known?: boolean;
  uncertain?: string[];
}

export interface IModels {
  default_model: string;
  refreshed_from_api?: boolean;
  /** Unix time of the last successful refresh from the API. */
  refreshed_at?: number;
  /** Why the last refresh from the API failed (the list is then the bundled registry). */
  refresh_error?: string;
  models: IModelEntry[];
}

export interface IStatus {
  backend: 'api' | 'offline';
  mode: Mode;
  key_configured: boolean;
  default_model: string;
  estimator?: string;
  cache: Record<string, unknown>;
  upstream_requests: number;
  rate_limit: Record<string, unknown>;
}

/** An error answered by the server, with the contract's `{error: {type, message}}` body. */
export class TokenCountError extends Error {
  constructor(
    message: string,
    readonly type: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'TokenCountError';
  }
}

/** Any failure of a request as a `TokenCountError` (a network or client error keeps its message). */
export function asTokenCountError(err: unknown): TokenCountError {
  return err instanceof TokenCountError
    ? err
    : new TokenCountError(String((err as Error)?.message ?? err), 'client', 0);
}

export class TokenCountAPI {
  constructor(settings?: ServerConnection.ISettings) {
    this.serverSettings = settings ?? ServerConnection.makeSettings();
  }

  readonly serverSettings: ServerConnection.ISettings;

  cells(body: ICellsRequest): Promise<ICellsResult> {
    return this._request<ICellsResult>('cells', 'POST', body);
  }

  document(body: IDocumentRequest): Promise<IDocumentResult> {
    return this._request<IDocumentResult>('document', 'POST', body);
  }

  /** Text counted as one user message (a selection). */
  countText(
    text: string,
    options: { model?: string; mode: Mode; deadline_ms?: number }
  ): Promise<ITokenCount> {
    const body: Record<string, unknown> = {
      messages: [{ role: 'user', content: [{ type: 'text', text }] }],
      mode: options.mode
    };
    if (options.model) {
      body.model = options.model;
    }
    if (options.deadline_ms !== undefined) {
      body.deadline_ms = options.deadline_ms;
    }
    return this._request<ITokenCount>('count', 'POST', body);
  }

  messages(body: ICellsRequest): Promise<{ request: Record<string, unknown> }> {
    return this._request('messages', 'POST', body);
  }

  models(): Promise<IModels> {
    return this._request<IModels>('models', 'GET');
  }

  status(): Promise<IStatus> {
    return this._request<IStatus>('status', 'GET');
  }

  private async _request<T>(
    endpoint: string,
    method: 'GET' | 'POST',
    body?: unknown
  ): Promise<T> {
    const url = URLExt.join(
      this.serverSettings.baseUrl,
      'jupyter-token-count',
      endpoint
    );
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        url,
        init,
        this.serverSettings
      );
    } catch (err) {
      throw new TokenCountError(
        `Jupyter server unreachable: ${(err as Error)?.message ?? err}`,
        'network',
        0
      );
    }
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const e = data?.error;
      if (response.status === 404 && !e) {
        throw new TokenCountError(
          'The jupyter-token-count server extension is not enabled on this Jupyter server.',
          'not_installed',
          404
        );
      }
      throw new TokenCountError(
        e?.message ?? `HTTP ${response.status} from ${endpoint}`,
        e?.type ?? 'http_error',
        response.status
      );
    }
    return data as T;
  }
}
