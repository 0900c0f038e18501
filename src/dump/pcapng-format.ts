// pcapng's block and option codes and its 4-byte padding, shared by the writer (pcapng.ts) and the reader
// (pcapng-read.ts). From the pcapng specification (draft-ietf-opsawg-pcapng); little-endian here.
export const SHB = 0x0a0d0d0a;
export const IDB = 1;
export const EPB = 6;
export const ISB = 5;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const OPT_END = 0;
export const OPT_COMMENT = 1;
export const SHB_USERAPPL = 4;
export const IF_NAME = 2;
export const IF_TSRESOL = 9;
export const EPB_DROPCOUNT = 4;
export const ISB_STARTTIME = 2;
export const ISB_ENDTIME = 3;
export const ISB_FILTERACCEPT = 6;
export const ISB_OSDROP = 7;
export const ISB_USRDELIV = 8;

export const pad4 = (n: number) => (n + 3) & ~3;
