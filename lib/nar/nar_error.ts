/** The one error the NAR code throws: invalid input, with the byte offset it was found at. */

/**
 * A NAR (or a node tree / event stream to encode) is not valid. `offset` is
 * the byte offset in the NAR where the problem starts.
 */
export class NarError extends SyntaxError {
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.name = "NarError";
    this.offset = offset;
  }

  /** `Invalid NAR at byte <offset>: <what>`, the parser's message form. */
  static at(offset: number, what: string): NarError {
    return new NarError(`Invalid NAR at byte ${offset}: ${what}`, offset);
  }
}
