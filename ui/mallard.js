!function(e,t,a,n,r,i,p,o,s,h,c,l,d,m,g,u,w,f,y,v){try{p=i&&i.q||[]
o=t.currentScript
s=o.dataset
h=s.api||new URL("/api/event",o.src)
m="hashRouting"in s
c="outboundLinks"in s
l="fileDownloads"in s
d=RegExp("\\.("+(s.fileDownloads||"avi,7z,rtf,mp4,exe,csv,pdf,mpeg,wma,mp3,zip,pkg,wmv,pps,iso,gz,rar,txt,key,dmg,wav,ppt,docx,mov,pptx,msi,xlsx,midi").replace(/\W+/g,"|")+")$","i")
f=(n,i,p,o)=>{o=(i=i||{}).callback
p=()=>o&&o(o=0)
try{if(e.__mallard_ignore||e._phantom||e.__nightmare||e.Cypress)return p()
i=new Blob([JSON.stringify({n:n,u:m?a.href:a.href.split("#")[0],d:s.domain||a.hostname,r:t.referrer||null,w:e.innerWidth,p:i.props&&JSON.stringify(i.props),ra:i.revenue,rc:i.currency})],{type:"text/plain"})
r.sendBeacon&&r.sendBeacon(h,i)?p():fetch(h,{method:"POST",body:i,keepalive:!0}).then(p,p)}catch{p()}}
u=e=>{e=a.pathname+(m?a.hash:"")
p||e==g||f("pageview",g=e)}
w=e=>{p&&!t.prerendering&&t.visibilityState!="prerender"&&(e=p,p=0,u(),e.map(e=>f(...e)))}
y=(e,t,a)=>e.addEventListener(t,a,1)
e.mallard=(...e)=>p?p.push(e):f(...e)
i=n.pushState
n.pushState=(...e)=>u(i.apply(n,e))
y(e,"popstate",u)
m&&y(e,"hashchange",u)
y(e,"pageshow",e=>e.persisted&&u(g=0))
y(t,"visibilitychange",w)
y(t,"prerenderingchange",w)
v=(e,t)=>{try{t=new URL(e.target.closest("a[href]").href)
e.button<2&&(l&&d.test(t.pathname)?f("File Download",{props:{url:t.origin+t.pathname}}):c&&t.host&&t.host!=a.host&&f("Outbound Link: Click",{props:{url:t.href}}))}catch{}}
y(t,"click",v)
y(t,"auxclick",v)
"404"in s&&e.mallard("404",{props:{path:a.pathname}})
w()}catch{}}(window,document,location,history,navigator,window.mallard)


