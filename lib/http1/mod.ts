/**
 * HTTP/1.1 wire formats, pure: the request head parser, the chunked body
 * decoder and the response head writer. The connection loop that uses them
 * is in lib/server/.
 */
export { HttpError } from "./http_error.ts";
export { findHeadEnd } from "./head_end.ts";
export { makeRoom } from "./make_room.ts";
export { MAX_HEADERS, parseRequestHead, type RequestHead } from "./request_head.ts";
export { HeadParser } from "./head_parser.ts";
export { ChunkedDecoder, type ChunkedPush } from "./chunked_decoder.ts";
export { formatResponseHead, httpDate, reasonPhrase } from "./response_head.ts";
