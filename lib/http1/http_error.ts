/** A request Arca cannot take, with the status the connection answers before closing. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
