// Plain data handed from the series stage to the git and build stages.

/** One patch mail of a series, with the exact bytes `git am` will be fed. */
export interface PatchMail {
  number: number; // 1-based; a lone patch is 1 of 1
  total: number;
  subject: string;
  messageId: string | null;
  raw: Buffer;
  /** Set when the mail client visibly damaged the patch (format=flowed, wrapped lines). */
  mangled: string | null;
}

/** A series version ready to be checked. */
export interface SeriesToCheck {
  title: string; // normalised subject of the head mail
  version: number;
  author: string; // "Name <addr>"
  /** Subject prefixes other than PATCH/vN/m-n, lower-cased: ["rfc", "for-4.19", "xen"]. */
  tags: string[];
  cover: { messageId: string | null; subject: string; raw: Buffer } | null;
  patches: PatchMail[];
  missing: number[]; // patch numbers never seen (checked anyway after the wait)
}
