import { createRouter } from "../../_shared/app.ts";
import { get, list, remove, upload, url } from "./handlers.ts";
import {
  deleteDocument,
  getDocument,
  getDocumentUrl,
  listDocuments,
  uploadDocument,
} from "./routes.ts";

export default createRouter()
  .openapi(uploadDocument, upload)
  .openapi(listDocuments, list)
  .openapi(getDocument, get)
  .openapi(getDocumentUrl, url)
  .openapi(deleteDocument, remove);
