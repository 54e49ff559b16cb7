export { startFakeConfluence, type FakeConfluence, type FakeConfluenceOptions, type FakePage, type FakeSpace, type FakeVersion } from "./server.ts";
export { elements, parseXml, storageFormatProblems, textOf, XmlError, type XmlElement, type XmlNode } from "./xhtml.ts";
