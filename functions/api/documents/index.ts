import { createRouter } from "../../_shared/app.ts";
import { get, legalHold, list, remove, upload, url } from "./handlers.ts";
import {
  deleteDocument,
  getDocument,
  getDocumentUrl,
  listDocuments,
  setDocumentLegalHold,
  uploadDocument,
} from "./routes.ts";

export default createRouter()
  .openapi(uploadDocument, upload)
  .openapi(listDocuments, list)
  .openapi(getDocument, get)
  .openapi(getDocumentUrl, url)
  .openapi(deleteDocument, remove)
  .openapi(setDocumentLegalHold, legalHold);
