/** Builds a flake reference with the local Nix and returns its output paths. */
export async function nixBuildOutputs(ref: string): Promise<string[]> {
  const args = [
    "--extra-experimental-features",
    "nix-command flakes",
    "build",
    "--no-link",
    "--json",
    ref,
  ];
  const out = await new Deno.Command("nix", { args, stdout: "piped", stderr: "piped" }).output()
    .catch((e) => {
      throw new Error(`cannot run 'nix': ${(e as Error).message} (is Nix installed?)`);
    });
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
    throw new Error(`nix build ${ref} failed: ${err}`);
  }
  const res = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    outputs: Record<string, string>;
  }[];
  return res.flatMap((r) => Object.values(r.outputs));
}
